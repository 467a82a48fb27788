"""Fuzz the feed bridge's frame handling: hostile frames never crash it, every one is accounted for.

1. The pure parser (`stampede.bridge.batching.parse_frame`) on random bytes, broken and truncated
   JSON, deep nesting, huge numbers, wrong types and non-UTF-8 strings: it never raises, names
   every problem with one of the documented kinds, keeps the good events (re-encoded events
   decode again with the typed structs), and loses nothing silently: for a JSON array, good
   events + statuses + bad items = items.
2. A real `stampede bridge` process reading those frames from a stand-in Massive server (the
   simulator never sends bad frames) over a real WebSocket into a real nats-server: after each
   frame, a sentinel trade must still be published, the published counter grows by exactly the
   batches the frame held plus the sentinel, the drop counters by exactly its problems, and the
   process's memory stays bounded. A frame above `BRIDGE_MAX_FRAME_BYTES` ends the connection
   (counted as a reconnect) and the bridge logs in again.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import psutil
import pytest
from hypothesis import HealthCheck, assume, given, settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from stampede.bridge.batching import parse_frame
from stampede.market import EVENT_TYPES
from stampede.tools import localstack, promscrape
from support.strategies import hostile_frames

KINDS = {"invalid_json", "not_array", "invalid_event", "unknown_ev"}
FRAME_KINDS = {"invalid_json", "not_array"}
API_KEY = "fuzz-key"
MAX_FRAME = 1024 * 1024


@settings(max_examples=400, deadline=None)
@given(hostile_frames())
def test_parser_never_raises_and_accounts_for_every_item(frame: bytes) -> None:
    parsed = parse_frame(frame)
    assert {kind for kind, _, _ in parsed.problems} <= KINDS
    for batch in parsed.batches:
        decoded = msgspec.json.decode(batch.data, type=list[EVENT_TYPES[batch.channel]])
        assert len(decoded) == batch.count > 0
    try:
        items = json.loads(frame)
    except (ValueError, RecursionError):
        items = None
    if isinstance(items, list):
        bad_items = sum(1 for kind, _, _ in parsed.problems if kind not in FRAME_KINDS)
        good = sum(b.count for b in parsed.batches) + len(parsed.statuses)
        if not any(kind in FRAME_KINDS for kind, _, _ in parsed.problems):
            assert good + bad_items == len(items)
    elif items is not None:
        assert parsed.batches == [] and [k for k, _, _ in parsed.problems] == ["not_array"]


class HostileMassive:
    """A Massive stand-in: the real handshake, then whatever frames the test queues."""

    def __init__(self) -> None:
        self.frames: queue.Queue[bytes] = queue.Queue()
        self.logins = 0
        self.stopped = threading.Event()
        self.server = serve(self._handle, "127.0.0.1", 0, max_size=None)
        self.port = self.server.socket.getsockname()[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handle(self, ws: ServerConnection) -> None:
        ws.send(
            json.dumps(
                [{"ev": "status", "status": "connected", "message": "Connected Successfully"}]
            )
        )
        auth = json.loads(ws.recv())
        assert auth == {"action": "auth", "params": API_KEY}
        ws.send(
            json.dumps([{"ev": "status", "status": "auth_success", "message": "authenticated"}])
        )
        ws.recv()  # subscribe
        self.logins += 1
        while not self.stopped.is_set():
            try:
                frame = self.frames.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                ws.send(frame)
            except (ConnectionClosed, OSError):
                self.frames.queue.appendleft(frame)  # the next connection gets it
                return

    def close(self) -> None:
        self.stopped.set()
        self.server.shutdown()


class BridgeProcess:
    def __init__(self, workdir: Path, nats_url: str, ws_url: str) -> None:
        port = localstack.free_port()
        env = {
            **os.environ,
            "NATS_URL": nats_url,
            "MASSIVE_WS_URL": ws_url,
            "MASSIVE_API_KEY": API_KEY,
            "BRIDGE_MARKET_HOURS_ONLY": "false",
            "BRIDGE_NEWS": "false",  # no REST behind this fake feed
            "BRIDGE_BACKOFF_INITIAL": "0.05",
            "BRIDGE_BACKOFF_MAX": "0.2",
            "BRIDGE_MAX_FRAME_BYTES": str(MAX_FRAME),
            "MASSIVE_SUBSCRIPTIONS": "A.*,AM.*,T.*,Q.*,LULD.*,NOI.*",
            "LOG_FORMAT": "json",
            **{f"BRIDGE_MAX_AGE_{ch}": "600" for ch in ("A", "AM", "T", "Q", "LULD", "NOI")},
        }
        self.url = f"http://127.0.0.1:{port}"
        self.log = workdir / "bridge.log"
        self.proc = localstack.ServerProcess(
            "bridge",
            "127.0.0.1",
            port,
            workdir,
            self.log,
            localstack.stampede_argv("bridge", port=port),
            env,
        ).start()
        deadline = time.monotonic() + 30
        while httpx.get(f"{self.url}/readyz", timeout=2).status_code != 200:
            assert time.monotonic() < deadline, self.log.read_text()[-2000:]
            time.sleep(0.1)

    def metrics(self) -> promscrape.Snapshot:
        return promscrape.scrape(f"{self.url}/metrics")

    def rss(self) -> int:
        return psutil.Process(self.proc.proc.pid).memory_info().rss


@pytest.fixture(scope="module")
def feed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[HostileMassive, BridgeProcess]]:
    workdir = tmp_path_factory.mktemp("fuzz-bridge")
    nats_server = localstack.nats_server(workdir).start()
    massive = HostileMassive()
    bridge = BridgeProcess(workdir, nats_server.url, f"ws://127.0.0.1:{massive.port}/stocks")
    try:
        yield massive, bridge
    finally:
        bridge.proc.stop()
        massive.close()
        nats_server.stop()


class Sentinel:
    """A well-formed trade with a fresh sequence number (so its CloudEvent id is new)."""

    q = 0

    @classmethod
    def frame(cls) -> bytes:
        cls.q += 1
        return json.dumps(
            [
                {
                    "ev": "T",
                    "sym": "SNTL",
                    "p": 10.5,
                    "s": 100,
                    "t": int(time.time() * 1000),
                    "q": cls.q,
                }
            ]
        ).encode()


def _published(m: promscrape.Snapshot) -> float:
    return m.value("stampede_bridge_cloudevents_published_total")


def _dropped(m: promscrape.Snapshot) -> float:
    return m.value("stampede_bridge_dropped_frames_total") + m.value(
        "stampede_bridge_dropped_events_total"
    )


def _wait_published(
    bridge: BridgeProcess, at_least: float, timeout: float = 20.0
) -> promscrape.Snapshot:
    deadline = time.monotonic() + timeout
    while True:
        m = bridge.metrics()
        if _published(m) >= at_least or time.monotonic() > deadline:
            return m
        time.sleep(0.01)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frame=hostile_frames())
def test_bridge_process_survives_and_counts_hostile_frames(feed, frame: bytes) -> None:
    massive, bridge = feed
    parsed = parse_frame(frame)
    assume(not parsed.statuses)  # status objects legitimately steer the connection
    before = bridge.metrics()
    massive.frames.put(frame)
    massive.frames.put(Sentinel.frame())
    expected = _published(before) + len(parsed.batches) + 1
    after = _wait_published(bridge, expected)
    assert bridge.proc.running
    assert _published(after) == expected
    assert _dropped(after) - _dropped(before) == len(parsed.problems)


def test_bridge_memory_stays_bounded_and_oversized_frames_reconnect(feed) -> None:
    massive, bridge = feed
    junk = [
        b"\xff" * 100,
        b'[{"ev":"T","sym":' + b"[" * 5000,
        b'{"not": "an array"}',
        json.dumps([{"ev": "Q", "sym": 5, "bp": "x"}] * 200).encode(),
    ]
    rss_before = bridge.rss()
    before = bridge.metrics()
    for i in range(3000):
        massive.frames.put(junk[i % len(junk)])
    massive.frames.put(Sentinel.frame())
    after = _wait_published(bridge, _published(before) + 1, timeout=60)
    assert _published(after) == _published(before) + 1
    growth = bridge.rss() - rss_before
    assert growth < 50 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB over 3000 bad frames"

    logins = massive.logins
    reconnects = after.value("stampede_bridge_reconnects_total")
    massive.frames.put(b"[" + b'"x",' * (MAX_FRAME // 4) + b'"x"]')  # above BRIDGE_MAX_FRAME_BYTES
    deadline = time.monotonic() + 30
    while massive.logins == logins and time.monotonic() < deadline:
        time.sleep(0.05)
    massive.frames.put(Sentinel.frame())
    final = _wait_published(bridge, _published(after) + 1, timeout=30)
    assert _published(final) == _published(after) + 1, "no publish after the oversized frame"
    assert final.value("stampede_bridge_reconnects_total") > reconnects
    assert massive.logins == logins + 1
    assert bridge.proc.running
