"""Fuzz a scoring function's CloudEvent endpoint over real HTTP (`stampede function movers`).

Random headers (CloudEvent attributes valid or not), content types and bodies (hostile JSON,
bytes, structured and batched CloudEvents with odd data, bodies above the limit): the answer is
never a 5xx (Redis is up, so not even 503), every 4xx is 400 or 413 with a JSON body naming the
error, 200s are one of the documented statuses, and the process keeps serving with its memory
bounded after thousands of bad requests.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stampede.tools import localstack
from support.service import Service, service
from support.strategies import event_like, hostile_frames, json_values

MAX_BODY = 64 * 1024
TYPES = [
    "dev.stampede.stocks.aggregate.v1",
    "dev.stampede.stocks.trade.v1",
    "dev.stampede.refdata.load.v1",
]
CONTENT_TYPES = [
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
    "text/plain",
    "application/octet-stream",
    "application/json; charset=latin-1",
]
OK_STATUSES = {"applied", "duplicate", "stale", "ignored"}

header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(
    str.strip
)


@pytest.fixture(scope="module")
def movers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, httpx.Client]]:
    workdir = tmp_path_factory.mktemp("fuzz-function")
    redis_server = localstack.redis_server(workdir).start()
    env = {"REDIS_URL": redis_server.url, "FUNCTION_MAX_BODY_BYTES": str(MAX_BODY)}
    try:
        with (
            service("function-movers", ["function", "movers"], workdir, env) as svc,
            httpx.Client(base_url=svc.url, timeout=30) as client,
        ):
            yield svc, client
    finally:
        redis_server.stop()


@st.composite
def requests(draw: st.DrawFn) -> tuple[dict[str, str], bytes]:
    headers: dict[str, str] = {}
    attributes = {
        "ce-specversion": st.sampled_from(["1.0", "0.3", ""]) | header_text,
        "ce-type": st.sampled_from(TYPES) | header_text,
        "ce-source": st.just("/fuzz") | header_text,
        "ce-id": st.builds(lambda: uuid.uuid4().hex) | header_text,
        "ce-time": st.just(datetime.now(UTC).isoformat()) | header_text,
        "ce-traceparent": header_text,
    }
    for name in draw(st.lists(st.sampled_from(list(attributes)), unique=True)):
        headers[name] = draw(attributes[name])
    headers["content-type"] = draw(st.sampled_from(CONTENT_TYPES) | header_text)
    kind = draw(st.sampled_from(["frame", "structured", "batch", "json", "big"]))
    if kind == "frame":
        body = draw(hostile_frames())
    elif kind == "structured":
        event = {
            "specversion": "1.0",
            "type": draw(st.sampled_from(TYPES)),
            "source": "/fuzz",
            "id": uuid.uuid4().hex,
            "time": datetime.now(UTC).isoformat(),
            "data": draw(st.lists(event_like(), max_size=4) | json_values),
        }
        for name in draw(st.lists(st.sampled_from(list(event)), max_size=2, unique=True)):
            event[name] = draw(json_values)
        body = json.dumps(event).encode()
    elif kind == "batch":
        body = json.dumps(
            draw(st.lists(json_values | st.just({"specversion": "1.0"}), max_size=4))
        ).encode()
    elif kind == "json":
        body = json.dumps(draw(json_values)).encode()
    else:
        body = b"[" + b"1," * (MAX_BODY // 2 + draw(st.integers(0, 1000))) + b"1]"
    return headers, body


def _check(answer: httpx.Response) -> None:
    assert answer.status_code in (200, 400, 413), (answer.status_code, answer.text[:300])
    body = answer.json()  # every answer is JSON
    if answer.status_code == 200:
        statuses = [r["status"] for r in body["results"]] if "results" in body else [body["status"]]
        assert set(statuses) <= OK_STATUSES | {"error"}, body
    else:
        assert body["status"] == "error" and body["error"] in ("invalid", "too_large"), body
        assert isinstance(body.get("message"), str) and body["message"]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request=requests())
def test_function_answers_hostile_requests_with_documented_statuses(movers, request) -> None:
    svc, client = movers
    headers, body = request
    _check(client.post("/", headers=headers, content=body))
    assert svc.running


def test_function_keeps_serving_with_bounded_memory(movers) -> None:
    svc, client = movers
    bad = [
        ({"content-type": "application/json"}, b"\xff\xfe"),
        (
            {
                "ce-specversion": "1.0",
                "ce-type": TYPES[0],
                "ce-source": "/x",
                "ce-id": "1",
                "content-type": "application/json",
            },
            b'[{"ev":"A","sym":' + b"[" * 5000 + b"]",
        ),
        ({"content-type": "application/cloudevents+json"}, b'{"specversion": "1.0"}'),
        ({"content-type": "application/json"}, b"x" * (MAX_BODY + 1)),
    ]
    for headers, body in bad * 50:  # warm up allocator pools before measuring
        client.post("/", headers=headers, content=body)
    before = svc.rss()
    for i in range(3000):
        headers, body = bad[i % len(bad)]
        answer = client.post("/", headers=headers, content=body)
        assert answer.status_code in (400, 413)
    growth = svc.rss() - before
    assert growth < 40 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB over 3000 bad requests"
    assert client.get("/healthz").status_code == 200
    dropped = svc.metrics().by("stampede_function_dropped_total", "reason")
    assert dropped.get("invalid", 0) >= 2250 and dropped.get("too_large", 0) >= 750, dropped
