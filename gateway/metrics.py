"""The gateway's Prometheus metrics, in a registry of its own.

A dedicated registry keeps the names free of clashes with other components imported into the
same process (the tests run everything in one interpreter); process metrics are added to it.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0,
                    1.5, 2.0, 3.0, 5.0, 10.0, 30.0)

PIPELINE_LATENCY = Histogram(
    "stampede_pipeline_latency_seconds",
    "From the bridge reading a frame (CloudEvent time) to the stage.",
    ["stage"], buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
EXCHANGE_LATENCY = Histogram(
    "stampede_exchange_latency_seconds",
    "From the event's exchange timestamp to the stage.",
    ["stage"], buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
CLIENTS = Gauge("stampede_gateway_clients", "Connected WebSocket clients.", registry=REGISTRY)
SUBSCRIPTIONS = Gauge(
    "stampede_gateway_subscriptions", "Active subscriptions over all clients.", registry=REGISTRY
)
VIEWS = Gauge(
    "stampede_gateway_views", "Distinct subscription specs (each diffed once per tick).",
    registry=REGISTRY,
)
DIFFS_SENT = Counter("stampede_gateway_diffs_sent_total", "Diff messages sent to clients.", registry=REGISTRY)
SNAPSHOTS_SENT = Counter(
    "stampede_gateway_snapshots_sent_total", "Snapshot messages sent to clients.", ["reason"],
    registry=REGISTRY,
)
MESSAGES_SENT = Counter(
    "stampede_gateway_messages_sent_total", "WebSocket messages sent, all types.", registry=REGISTRY
)
BYTES_SENT = Counter("stampede_gateway_sent_bytes_total", "WebSocket payload bytes sent.", registry=REGISTRY)
TICKS = Counter("stampede_gateway_ticks_total", "Ticks (board reads + diff rounds).", registry=REGISTRY)
REDIS_READS = Counter(
    "stampede_gateway_redis_reads_total",
    "Redis read commands issued by ticks (divide by ticks_total for reads per tick).",
    registry=REGISTRY,
)
REDIS_READS_PER_TICK = Histogram(
    "stampede_gateway_redis_reads_per_tick", "Redis read commands per tick.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000), registry=REGISTRY,
)
TICK_DURATION = Histogram(
    "stampede_gateway_tick_duration_seconds", "Read + diff + enqueue time of a tick.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0), registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "stampede_gateway_notifications_total", "Change notifications received, by result.",
    ["result"], registry=REGISTRY,
)
CLIENT_ERRORS = Counter(
    "stampede_gateway_client_errors_total", "Error frames sent to clients, by code.", ["code"],
    registry=REGISTRY,
)
REDIS_ERRORS = Counter(
    "stampede_gateway_redis_errors_total", "Redis failures (the gateway retries), by operation.",
    ["operation"], registry=REGISTRY,
)
