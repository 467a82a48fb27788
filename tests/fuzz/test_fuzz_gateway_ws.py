"""Fuzz the gateway's WebSocket protocol (`stampede gateway` as its own process).

Random JSON (right and wrong message types, fields of the wrong type, odd ids, limits and
filters), junk text, binary frames and oversized messages: every mistake is answered with an
`error` frame carrying a `code` and a `message` and the connection stays open (a ping right
after is still answered); a message above the hard cap (16 x `GATEWAY_MAX_MESSAGE_BYTES`)
closes that one connection with 1009 (message too big). Meanwhile another client is served
as if nothing happened, and the gateway's memory stays bounded.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from stampede.boards import BOARDS_BY_NAME
from stampede.tools import localstack
from support.gateway import UNLIMITED_MESSAGES
from support.service import Service, service
from support.strategies import json_values

MAX_MESSAGE = 4096
HARD_CAP = MAX_MESSAGE * 16
SERVER_TYPES = {
    "hello",
    "snapshot",
    "diff",
    "pong",
    "unsubscribed",
    "heartbeat",
    "error",
    "subscribed",
}
_ping_ids = itertools.count()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("fuzz-gateway")
    redis_server = localstack.redis_server(workdir).start()
    env = {
        "REDIS_URL": redis_server.url,
        "GATEWAY_MAX_MESSAGE_BYTES": str(MAX_MESSAGE),
        **UNLIMITED_MESSAGES,  # the protocol under fuzzing; the rate limit has its own tests
    }
    try:
        with service("gateway", ["gateway"], workdir, env) as svc:
            yield svc
    finally:
        redis_server.stop()


class Session:
    """One client connection, re-opened when the server closed it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws = self._open()

    def _open(self) -> ClientConnection:
        ws = connect(self.url, max_size=None, open_timeout=10).__enter__()
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        return ws

    def reopen(self) -> None:
        self.ws.close()
        self.ws = self._open()

    def roundtrip(self, payload: str | bytes) -> list[dict]:
        """Send ``payload`` then a ping; return what came back before the pong."""
        marker = f"fuzz-{next(_ping_ids)}"
        self.ws.send(payload)
        self.ws.send(json.dumps({"type": "ping", "t": marker}))
        seen = []
        while True:
            message = orjson.loads(self.ws.recv(timeout=10))
            if message.get("type") == "pong" and message.get("t") == marker:
                return seen
            seen.append(message)


@pytest.fixture(scope="module")
def session(gateway: Service) -> Iterator[Session]:
    s = Session(gateway.url.replace("http://", "ws://") + "/ws")
    yield s
    s.ws.close()


ids = st.one_of(st.text(max_size=70), st.integers(), st.none(), st.just("a"))
boards = st.one_of(st.sampled_from(sorted(BOARDS_BY_NAME)), st.text(max_size=10), st.integers())
message_dicts = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["subscribe", "unsubscribe", "resync", "ping", "auth", "nope", ""])
        | json_values
    },
    optional={
        "id": ids,
        "board": boards,
        "limit": st.integers(-10, 10**20) | json_values,
        "filters": st.dictionaries(
            st.sampled_from(["min_price", "max_price", "min_volume", "x"]),
            st.floats(allow_nan=False) | json_values,
            max_size=3,
        )
        | json_values,
        "t": json_values,
        "token": json_values,
        "extra": json_values,
    },
)
payloads = st.one_of(
    message_dicts.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
    st.integers(MAX_MESSAGE + 1, HARD_CAP - 100).map(
        lambda n: json.dumps({"type": "ping", "t": "x" * n})
    ),
    st.integers(1000, 20_000).map(lambda depth: "[" * depth + "]" * depth),
)


def _check_answers(answers: list[dict]) -> None:
    for message in answers:
        assert message.get("type") in SERVER_TYPES, message
        if message["type"] == "error":
            assert isinstance(message.get("code"), str) and message["code"], message
            assert isinstance(message.get("message"), str) and message["message"], message


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=payloads)
def test_every_mistake_gets_an_error_frame_and_the_connection_stays(
    gateway: Service, session: Session, payload: str | bytes
) -> None:
    answers = session.roundtrip(payload)
    _check_answers(answers)
    assert gateway.running


def test_oversized_messages_close_only_that_connection_and_others_are_served(
    gateway: Service,
) -> None:
    url = gateway.url.replace("http://", "ws://") + "/ws"
    observer = Session(url)
    observer.ws.send(json.dumps({"type": "subscribe", "id": "v", "board": "volume", "limit": 5}))
    assert orjson.loads(observer.ws.recv(timeout=10))["type"] == "snapshot"

    soft = Session(url)
    answers = soft.roundtrip(json.dumps({"type": "ping", "t": "x" * (MAX_MESSAGE + 10)}))
    assert [m.get("code") for m in answers] == ["message_too_large"]

    rss_before = gateway.rss()
    hard = Session(url)
    for _ in range(200):
        hard.ws.send("[" * (HARD_CAP + 10))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                hard.ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        hard.reopen()
    for _ in range(2000):
        soft.ws.send(b"\xff" * 3000)
    assert [m.get("code") for m in soft.roundtrip("{}")][-1] == "unknown_type"
    growth = gateway.rss() - rss_before
    assert growth < 40 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB"

    # The observer was never disturbed.
    answers = observer.roundtrip(json.dumps({"type": "resync", "id": "v"}))
    assert [m["type"] for m in answers if m["type"] != "heartbeat"] == ["snapshot"]
    for s in (observer, soft, hard):
        s.ws.close()
