"""Every server reply follows ``schemas/gateway-ws.v1.json``, whatever the client sends.

Hypothesis generates client messages around the protocol (right and wrong types, ids from
empty to 70 characters, known and unknown boards, limits, filters) and sends them to
`stampede gateway` (its own process) while boards change in Redis; every frame that comes back
(hello, snapshots, diffs, heartbeats, errors, pongs, ...) is validated against the schema.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from websockets.sync.client import ClientConnection, connect

from stampede import changes, keys
from stampede.boards import BOARDS_BY_NAME
from stampede.gateway.scans import FILTER_FIELDS
from stampede.tools import localstack
from support.gateway import DAY, UNLIMITED_MESSAGES, row_fields
from support.service import Service, service
from support.strategies import json_values

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "gateway-ws.v1.json").read_text()
)
SERVER_MESSAGE = Draft202012Validator({**SCHEMA, "$ref": "#/$defs/ServerMessage"})
SYMBOLS = [f"P{i:02d}" for i in range(40)]
_markers = itertools.count()


class Writer:
    """Rows and ranks changed the way the functions change them, and the notice after."""

    def __init__(self, url: str) -> None:
        self.redis = redis.Redis.from_url(url)
        self.rng = random.Random(3)
        self.t = 1_741_958_000_000

    def step(self) -> None:
        self.t += 250
        pipe = self.redis.pipeline(transaction=True)
        for sym in self.rng.sample(SYMBOLS, 8):
            fields = row_fields(
                sym, self.rng.uniform(0.5, 60), 10.0, self.rng.randint(0, 10**6), self.t
            )
            pipe.hset(keys.row(DAY, sym), mapping=fields)
            for board in ("gainers", "losers", "volume"):
                pipe.zadd(
                    keys.board(DAY, board), {sym: float(fields[BOARDS_BY_NAME[board].metric])}
                )
        notice = changes.ChangeNotice(DAY, ["gainers", "losers", "volume"], self.t, self.t)
        pipe.publish(keys.CHANGES_CHANNEL, changes.encode(notice))
        pipe.execute()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Writer]]:
    workdir = tmp_path_factory.mktemp("schema-gateway")
    redis_server = localstack.redis_server(workdir).start()
    writer = Writer(redis_server.url)
    writer.step()
    env = {"REDIS_URL": redis_server.url, "GATEWAY_HEARTBEAT_SECONDS": "0.2", **UNLIMITED_MESSAGES}
    try:
        with service("gateway", ["gateway"], workdir, env) as svc:
            yield svc, writer
    finally:
        writer.redis.close()
        redis_server.stop()


@pytest.fixture(scope="module")
def ws(gateway: tuple[Service, Writer]) -> Iterator[ClientConnection]:
    svc, _ = gateway
    with connect(svc.url.replace("http://", "ws://") + "/ws", max_size=None) as conn:
        check(orjson.loads(conn.recv(timeout=10)))
        yield conn


def check(message: dict) -> dict:
    errors = sorted(SERVER_MESSAGE.iter_errors(message), key=str)
    assert not errors, f"{message} breaks the schema: {errors[0].message}"
    return message


def replies_to(conn: ClientConnection, payload: str) -> list[dict]:
    """Send ``payload`` and a ping; every frame up to the pong, each checked."""
    marker = f"m{next(_markers)}"
    conn.send(payload)
    conn.send(json.dumps({"type": "ping", "t": marker}))
    seen = []
    while True:
        message = check(orjson.loads(conn.recv(timeout=10)))
        if message["type"] == "pong" and message.get("t") == marker:
            return seen
        seen.append(message)


ids = st.one_of(
    st.text(max_size=70),
    st.sampled_from(["", "a", "x" * 64, "x" * 65]),
    st.integers(),
    st.none(),
)
filter_names = st.sampled_from([f"{b}_{f}" for f in FILTER_FIELDS for b in ("min", "max")])
client_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["subscribe", "unsubscribe", "resync", "ping", "auth", "x"])},
    optional={
        "id": ids,
        "board": st.sampled_from([*BOARDS_BY_NAME, "nope", ""]) | json_values,
        "limit": st.integers(-3, 120) | json_values,
        "filters": st.dictionaries(
            filter_names | st.text(max_size=12),
            st.floats(-1e6, 1e6) | st.none() | json_values,
            max_size=3,
        )
        | json_values,
        "t": json_values,
        "token": json_values,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(message=client_messages)
def test_every_reply_follows_the_schema(
    gateway: tuple[Service, Writer], ws: ClientConnection, message: dict
) -> None:
    _, writer = gateway
    writer.step()  # diffs for whatever is subscribed by now
    answers = replies_to(ws, json.dumps(message))
    for answer in answers:
        if answer["type"] == "error" and "id" in answer:
            assert answer["id"] == message.get("id")  # only the client's own, valid id


@pytest.mark.parametrize("bad_id", ["", "x" * 65])
def test_an_invalid_id_is_not_echoed(ws: ClientConnection, bad_id: str) -> None:
    answers = replies_to(ws, json.dumps({"type": "subscribe", "id": bad_id, "board": "gainers"}))
    [error] = [a for a in answers if a["type"] == "error"]
    assert error["code"] == "bad_request" and "id" not in error


def test_board_messages_follow_the_schema(gateway: tuple[Service, Writer]) -> None:
    svc, writer = gateway
    with connect(svc.url.replace("http://", "ws://") + "/ws", max_size=None) as conn:
        for board in ("gainers", "losers", "volume"):
            conn.send(json.dumps({"type": "subscribe", "id": board, "board": board, "limit": 10}))
        wanted = {"hello", "snapshot", "diff", "heartbeat", "error"}
        kinds: set[str] = set()
        for _ in range(100):  # diffs come on the next tick, heartbeats each second: give them time
            writer.step()
            kinds |= {m["type"] for m in replies_to(conn, "{}")}
            if wanted <= kinds:
                break
            time.sleep(0.05)
        assert wanted <= kinds
