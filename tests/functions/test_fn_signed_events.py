"""Only the pipeline writes the boards (issue 25, finding 4): with FUNCTION_EVENT_KEY set, a
function applies a CloudEvent only when it carries the bridge's `stampedesig` signature over its
id, type, source and data; a forged, unsigned, tampered or re-encoded one gets 401, is counted
and nothing of it reaches Redis. The bridge's envelope signs what the functions check."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stampede import keys, signing
from stampede.bridge.batching import Batch
from stampede.bridge.envelope import EnvelopeWriter, FrameStamp
from stampede.events import REFDATA_LOAD_TYPE
from stampede.market import Channel, encode
from support.functions import DAY, bar, binary, cloudevent, seed_reference, structured

SECRET = "a-secret-only-the-pipeline-knows"
KEY = signing.key_of(SECRET)
D = DAY.isoformat()


def signed(event, key: bytes = KEY) -> tuple[dict[str, str], bytes]:
    headers, body = binary(event)
    attributes = event.get_attributes()
    headers[signing.HEADER] = signing.sign(
        key, attributes["id"], attributes["type"], attributes["source"], body
    )
    return headers, body


async def test_only_signed_events_reach_the_boards(function_server, http, redis) -> None:
    await seed_reference(redis, {"REAL": 10.0, "PWND": 10.0}, {"REAL": 1e5, "PWND": 1e5})
    real = cloudevent(Channel.AGGREGATE, [bar("REAL", "10:00:01", 11.0, 5_000, op=10.5)])
    forged = cloudevent(Channel.AGGREGATE, [bar("PWND", "10:00:01", 99.0, 9e9, op=10.5)])
    async with function_server("movers", function_event_key=SECRET) as url:
        answers = {
            "signed": await http.post(url, **_request(*signed(real))),
            "unsigned": await http.post(url, **_request(*binary(forged))),
            "wrong key": await http.post(url, **_request(*signed(forged, b"guessed" * 4))),
            "tampered": await http.post(url, **_request(*_tampered(signed(real), forged))),
            "structured": await http.post(url, **_request(*structured(forged))),
        }
        metrics = (await http.get(url.rstrip("/") + "/metrics")).text
    assert answers["signed"].status_code == 200, answers["signed"].text
    assert answers["signed"].json()["status"] == "applied"
    for what in ("unsigned", "wrong key", "tampered", "structured"):
        assert answers[what].status_code == 401, what
        assert answers[what].json()["error"] == "forged", what
    assert 'stampede_function_dropped_total{function="movers",reason="forged"} 4.0' in metrics
    volume = await redis.zrange(keys.board(D, "volume"), 0, -1)
    assert volume == ["REAL"]  # nothing forged on any board, and no row of it
    assert not await redis.exists(keys.row(D, "PWND"))


async def test_reference_loads_need_no_signature(function_server, http) -> None:
    """The PingSource that fires them cannot sign; a load only fetches what Massive says."""
    headers = {
        "ce-specversion": "1.0",
        "ce-type": REFDATA_LOAD_TYPE,
        "ce-source": "/test/cron",
        "ce-id": "ping-1",
        "content-type": "application/json",
    }
    async with function_server(
        "refdata", function_event_key=SECRET, massive_rest_url="http://127.0.0.1:9"
    ) as url:
        answer = await http.post(url, headers=headers, content=b'{"part": "daily"}')
    assert answer.status_code != 401, answer.text


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_the_bridge_signs_what_the_functions_check_in_binary_mode(mode: str) -> None:
    data = encode([bar("REAL", "10:00:01", 11.0, 5_000)])
    batch = Batch(Channel.AGGREGATE, 0, data, 1)
    out = EnvelopeWriter("wss://feed.test/stocks", mode, key=KEY).write(
        batch, FrameStamp(datetime.now(UTC), "00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    )
    if mode == "structured":  # its data is re-encoded on the way: no signature to check
        assert signing.HEADER not in out.headers
        return
    presented = out.headers[signing.HEADER]
    event_type = out.headers["ce-type"]
    source = "wss://feed.test/stocks"
    assert signing.valid(KEY, out.event_id, event_type, source, out.payload, presented)
    assert not signing.valid(KEY, out.event_id, event_type, source, out.payload + b" ", presented)
    assert not signing.valid(KEY, "other-id", event_type, source, out.payload, presented)


def _request(headers: dict[str, str], body: bytes) -> dict:
    return {"headers": headers, "content": body}


def _tampered(genuine: tuple[dict[str, str], bytes], forged_event) -> tuple[dict[str, str], bytes]:
    """A genuine event's headers and signature over a forged body."""
    headers, _ = genuine
    _, body = binary(forged_event)
    return headers, body
