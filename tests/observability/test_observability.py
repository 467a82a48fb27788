"""The whole local pipeline, observed from outside: traces over OTLP, metrics over /metrics.

One ``stampede up`` (simulator, bridge, dispatch, four functions, gateway; real nats-server and
redis-server) runs as a subprocess for the whole module, exactly as a person runs it, with
``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at a tiny OTLP/HTTP receiver this test serves. The
receiver decodes each ``ExportTraceServiceRequest`` (opentelemetry-proto) and keeps the spans,
so the test sees what a collector would: separate processes, context carried only by the
CloudEvent ``traceparent`` through NATS headers and HTTP. Subprocesses rather than one event
loop with an in-memory exporter because the point is the propagation between processes, and
because it also checks that every deployable installs its exporter from the standard
``OTEL_*`` variables. A WebSocket client subscribes to every board so the gateway sends diffs.

The simulator runs at a quarter of real time from the open so two shared cores keep up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from stampede.boards import BOARDS
from stampede.dispatch.triggers import default_triggers_path, load_triggers, routable
from stampede.tools import localstack, top
from stampede.tools.promscrape import scrape_all

pytestmark = pytest.mark.slow  # the whole scanner: one at a time beside the light tests

DASHBOARD = (
    Path(__file__).resolve().parents[2] / "manifests/monitoring/grafana/stampede-dashboard.json"
)
STARTUP_TIMEOUT = 90.0


@dataclass
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    status: int
    links: list[tuple[str, str]]
    attributes: dict[str, object]


@dataclass
class Receiver:
    """An OTLP/HTTP traces endpoint that keeps every span it is sent."""

    spans: list[Span] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        found = []
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope in resource_spans.scope_spans:
                for s in scope.spans:
                    found.append(
                        Span(
                            service,
                            s.name,
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            s.status.code,
                            [(link.trace_id.hex(), link.span_id.hex()) for link in s.links],
                            {a.key: _value(a.value) for a in s.attributes},
                        )
                    )
        with self.lock:
            self.spans.extend(found)

    def snapshot(self) -> list[Span]:
        with self.lock:
            return list(self.spans)


def _value(value: object) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def serve_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path == "/v1/traces":
                receiver.add(body)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", localstack.free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server


class BoardWatcher:
    """A dashboard stand-in: subscribes to every board and counts the frames it receives."""

    def __init__(self, gateway_url: str) -> None:
        self.url = gateway_url.replace("http://", "ws://") + "/ws"
        self.frames: dict[str, int] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with connect(self.url, open_timeout=10) as ws:
            for board in BOARDS:
                ws.send(
                    json.dumps(
                        {"type": "subscribe", "id": board.name, "board": board.name, "limit": 20}
                    )
                )
            while not self.stopping.is_set():
                try:
                    message = json.loads(ws.recv(timeout=0.5))
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return  # the gateway is stopping (end of the module)
                kind = message.get("type", "?")
                self.frames[kind] = self.frames.get(kind, 0) + 1


@dataclass
class Running:
    proc: subprocess.Popen
    status: dict
    status_path: Path
    receiver: Receiver
    watcher: BoardWatcher


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    receiver, otlp = serve_receiver()
    workdir = tmp_path_factory.mktemp("up")
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp.server_port}",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: spans reach the receiver quickly
        "LOG_FORMAT": "json",
    }
    env.pop("OTEL_SDK_DISABLED", None)
    log = (workdir / "up.out").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stampede.tools.cli",
            "up",
            "--workdir",
            str(workdir),
            "--start",
            "09:30:00",
            "--speed",
            "0.25",
            "--seed",
            "7",
            "--port",
            str(localstack.free_port()),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    status_path = workdir / "status.json"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not status_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"stampede up did not come up: {(workdir / 'up.out').read_text()[-2000:]}")
        time.sleep(0.2)
    status = json.loads(status_path.read_text())
    watcher = BoardWatcher(status["gateway"])
    try:
        yield Running(proc, status, status_path, receiver, watcher)
    finally:
        watcher.stopping.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        otlp.shutdown()
        log.close()


def wait_for(condition, timeout: float, what: str):
    """Poll ``condition()`` until it returns something truthy (then return it) or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def linked_trace(spans: list[Span]) -> dict[str, Span] | None:
    """One event's chain: bridge frame -> dispatch delivery -> function process -> redis apply."""
    by_id = {s.span_id: s for s in spans}
    for apply in spans:
        if apply.name != "redis apply":
            continue
        process = by_id.get(apply.parent_id)
        dispatch = by_id.get(process.parent_id) if process else None
        bridge = by_id.get(dispatch.parent_id) if dispatch else None
        if bridge is not None:
            return {"apply": apply, "process": process, "dispatch": dispatch, "bridge": bridge}
    return None


def test_one_trace_links_bridge_dispatch_function_and_redis_apply(running: Running) -> None:
    chain = wait_for(lambda: linked_trace(running.receiver.snapshot()), 45, "a linked trace")
    bridge, dispatch, process, apply = (
        chain["bridge"],
        chain["dispatch"],
        chain["process"],
        chain["apply"],
    )
    assert {s.trace_id for s in chain.values()} == {bridge.trace_id}
    assert (bridge.service, bridge.name, bridge.parent_id) == ("bridge", "bridge frame", "")
    assert dispatch.service == "dispatch" and dispatch.name.startswith("dispatch ")
    function = dispatch.name.removeprefix("dispatch ")
    assert (process.service, process.name) == (f"function-{function}", f"{function} process")
    assert apply.service == f"function-{function}"
    # The dispatcher delivered the same CloudEvent the function processed.
    assert dispatch.attributes["cloudevents.event_id"] == process.attributes["cloudevents.event_id"]
    assert dispatch.attributes["http.response.status_code"] == 200
    assert str(process.attributes["cloudevents.event_type"]).startswith("dev.stampede.stocks.")


def test_gateway_tick_spans_join_the_traces_of_the_changes_they_publish(running: Running) -> None:
    def joined() -> Span | None:
        spans = running.receiver.snapshot()
        function_spans = {s.span_id for s in spans if s.service.startswith("function-")}
        return next(
            (
                s
                for s in spans
                if s.name == "gateway tick"
                and s.parent_id in function_spans
                and (s.trace_id, s.parent_id) in s.links
            ),
            None,
        )

    tick = wait_for(joined, 30, "a gateway tick span parented to a function span")
    assert tick.service == "gateway"


COUNTERS_THAT_MOVE = {
    "sim": ["stampede_sim_frames_sent_total", "stampede_sim_events_sent_total"],
    "bridge": [
        "stampede_bridge_frames_received_total",
        "stampede_bridge_events_total",
        "stampede_bridge_published_events_total",
        "stampede_bridge_cloudevents_published_total",
    ],
    "dispatch": ["stampede_dispatch_deliveries_total"],
    "function-movers": [
        "stampede_function_events_applied_total",
        "stampede_function_batches_total",
    ],
    "function-momentum": ["stampede_function_events_applied_total"],
    "gateway": [
        "stampede_gateway_ticks_total",
        "stampede_gateway_diffs_sent_total",
        "stampede_gateway_sent_bytes_total",
    ],
}

HISTOGRAMS_POPULATED = [
    ("stampede_pipeline_latency_seconds", {"stage": "bridge_acked"}),
    ("stampede_pipeline_latency_seconds", {"stage": "dispatch"}),
    ("stampede_pipeline_latency_seconds", {"stage": "board_write"}),
    ("stampede_pipeline_latency_seconds", {"stage": "client_send"}),
    ("stampede_exchange_latency_seconds", {"stage": "board_write"}),
    ("stampede_exchange_latency_seconds", {"stage": "client_send"}),
    ("stampede_function_redis_apply_duration_seconds", {}),
    (
        "http_server_request_duration_seconds",
        {"component": "function-movers", "http_response_status_code": "200"},
    ),
    ("http_client_request_duration_seconds", {"http_response_status_code": "200"}),
]


def test_every_component_counts_and_the_end_to_end_histograms_fill(running: Running) -> None:
    urls = running.status["metrics"]
    wait_for(
        lambda: scrape_all(urls).merged.value("stampede_gateway_diffs_sent_total") > 0,
        45,
        "gateway diffs",
    )
    first = scrape_all(urls)
    assert not first.errors, first.errors

    def still() -> list[str]:
        """Counters that have not moved since the first scrape."""
        return [
            f"{component} {counter} ({first.components[component].value(counter)} -> "
            f"{second.components[component].value(counter)})"
            for component, counters in COUNTERS_THAT_MOVE.items()
            for counter in counters
            if second.components[component].value(counter)
            <= first.components[component].value(counter)
        ]

    # Poll rather than sleep a fixed time: on a loaded machine a quiet second is not a failure.
    deadline = time.monotonic() + 30
    while True:
        time.sleep(1)
        second = scrape_all(urls)
        if not still() or time.monotonic() > deadline:
            break
    assert still() == [], "counters did not move"
    merged = second.merged
    for histogram, match in HISTOGRAMS_POPULATED:
        assert merged.value(f"{histogram}_count", **match) > 0, (histogram, match)
        assert merged.buckets(histogram, **match)[-1][1] == merged.value(
            f"{histogram}_count", **match
        )
    assert merged.value("stampede_gateway_clients") >= 1
    # one bound consumer per Trigger on a market stream (refdata's arrives over HTTP, not NATS)
    market_triggers = routable(load_triggers(default_triggers_path(), "stampede", {}))
    assert {
        dict(labels)["trigger"] for labels in merged.series("stampede_dispatch_consumer_bound")
    } == {t.name for t in market_triggers}
    assert running.watcher.frames.get("diff", 0) > 0


def test_stampede_top_shows_live_rates(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        top.main(
            ["--status", str(running.status_path), "--count", "1", "--no-clear", "--interval", "3"]
        )
        == 0
    )
    screen = capsys.readouterr().out
    rates = {
        line[2:32].strip(): line[32:42].strip()
        for line in screen.splitlines()
        if line.startswith("  ")
    }
    for stage in (
        "bridge frames read",
        "bridge events in",
        "function events applied",
        "gateway diffs sent",
    ):
        assert stage in rates, screen
        assert float(rates[stage].replace(",", "").replace("k", "")) > 0, (stage, screen)
    assert "pipeline (from bridge read) board_write" in screen
    assert "dispatch momentum" in screen  # lag line


# -- the dashboard --------------------------------------------------------------------------

PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "le",
    "inf",
    "nan",
}
# Series Prometheus itself makes (scrape health), not the code.
PROMETHEUS_MADE = {"up"}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers that are not functions, keywords,
    label names (inside ``{}``/``by()``), strings, durations or Grafana variables."""
    import re

    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\$\{?\w+\}?", "", text)  # $__rate_interval and friends
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[match.end() :].lstrip()
        word = match.group(0)
        if rest.startswith("(") or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            if "expr" in target:
                exprs.append(target["expr"])
    return exprs


def test_dashboard_queries_only_metrics_the_components_expose(running: Running) -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["title"] and board["uid"] and board["panels"]
    exprs = dashboard_queries()
    assert len(exprs) >= 10
    exposed: set[str] = set()
    for snapshot in scrape_all(running.status["metrics"]).components.values():
        exposed |= snapshot.names()
    used = set().union(*(promql_metric_names(e) for e in exprs))
    assert used, exprs
    unknown = used - exposed - PROMETHEUS_MADE
    assert not unknown, f"dashboard queries metrics no component exposes: {sorted(unknown)}"
    # The pipeline at a glance: each end-to-end stage, lag and drops are on it.
    joined = "\n".join(exprs)
    for needed in (
        "stampede_pipeline_latency_seconds_bucket",
        "stampede_exchange_latency_seconds_bucket",
        "stampede_dispatch_consumer_pending",
        "stampede_bridge_dropped_events_total",
        "stampede_function_dropped_total",
        "histogram_quantile",
    ):
        assert needed in joined, needed


def test_promql_name_extraction_ignores_functions_labels_and_keywords() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le, stage) (rate(stampede_pipeline_latency_seconds_bucket"
        '{stage=~"board_write|dispatch"}[$__rate_interval]))) and on (x) count(up{job="a"}) > 0'
    )
    assert promql_metric_names(expr) == {"stampede_pipeline_latency_seconds_bucket", "up"}


def test_sigint_stops_the_whole_pipeline(running: Running) -> None:
    """Last: Ctrl-C on ``stampede up`` stops every process it started, and it exits 0."""
    pids = running.status["pids"]
    running.proc.send_signal(signal.SIGINT)
    assert running.proc.wait(timeout=45) == 0
    for name, pid in pids.items():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        state = (
            Path(f"/proc/{pid}/stat").read_text().split()[2]
            if Path(f"/proc/{pid}/stat").exists()
            else "X"
        )
        assert state == "Z", f"{name} (pid {pid}) still running after stampede up exited"
