"""The simulator's Prometheus metrics (its own registry, served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stampede import metricnames as names


class SimMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter(
            names.SIM_EVENTS_SENT,
            "Market events sent, by channel.",
            ["channel"],
            registry=r,
        )
        self.frames = Counter(
            names.SIM_FRAMES_SENT, "WebSocket frames written to clients.", registry=r
        )
        self.bytes = Counter(
            "stampede_sim_sent_bytes_total",
            "WebSocket payload bytes written to clients.",
            registry=r,
        )
        self.connections = Gauge(
            "stampede_sim_connections", "Open WebSocket connections.", registry=r
        )
        self.disconnects = Counter(
            "stampede_sim_disconnects_total",
            "Connections ended by the server, by status.",
            ["reason"],
            registry=r,
        )
        self.faults = Counter(
            "stampede_sim_faults_total",
            "Feed faults switched on through /_sim/faults, by fault.",
            ["fault"],
            registry=r,
        )
        self.refused = Counter(
            "stampede_sim_refused_connections_total",
            "Feed connections answered 503 while a `refuse` fault was on.",
            registry=r,
        )
        self.client_errors = Counter(
            "stampede_sim_client_errors_total",
            "Bad client messages, by kind.",
            ["kind"],
            registry=r,
        )
        self.http = Histogram(
            "http_server_request_duration_seconds",
            "REST request duration.",
            ["http_request_method", "http_route", "http_response_status_code"],
            registry=r,
        )
        self.sim_time = Gauge(
            "stampede_sim_clock_milliseconds", "The simulated clock (Unix ms).", registry=r
        )
