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

from stampede import metricnames as names
from stampede.telemetry import (
    exchange_latency_histogram,
    pipeline_latency_histogram,
)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

PIPELINE_LATENCY = pipeline_latency_histogram(REGISTRY)
EXCHANGE_LATENCY = exchange_latency_histogram(REGISTRY)
# The gateway's stage exists from the start, so dashboards and alerts see it before a first tick.
PIPELINE_LATENCY.labels(names.Stage.CLIENT_SEND.value)
CLIENTS = Gauge(names.GATEWAY_CLIENTS, "Connected WebSocket clients.", registry=REGISTRY)
SUBSCRIPTIONS = Gauge(
    "stampede_gateway_subscriptions", "Active subscriptions over all clients.", registry=REGISTRY
)
VIEWS = Gauge(
    "stampede_gateway_views",
    "Distinct subscription specs (each diffed once per tick).",
    registry=REGISTRY,
)
DIFFS_SENT = Counter(names.GATEWAY_DIFFS_SENT, "Diff messages sent to clients.", registry=REGISTRY)
SNAPSHOTS_SENT = Counter(
    "stampede_gateway_snapshots_sent_total",
    "Snapshot messages sent to clients.",
    ["reason"],
    registry=REGISTRY,
)
MESSAGES_SENT = Counter(
    "stampede_gateway_messages_sent_total", "WebSocket messages sent, all types.", registry=REGISTRY
)
BYTES_SENT = Counter(names.GATEWAY_SENT_BYTES, "WebSocket payload bytes sent.", registry=REGISTRY)
TICKS = Counter(names.GATEWAY_TICKS, "Ticks (board reads + diff rounds).", registry=REGISTRY)
CHANGED_ROWS = Counter(
    names.GATEWAY_CHANGED_ROWS,
    "Rows a tick's diffs added, removed, moved or changed, over every view: the work that "
    "follows changes (the bench divides the gateway's CPU by it).",
    registry=REGISTRY,
)
REDIS_READS = Counter(
    "stampede_gateway_redis_reads_total",
    "Redis read commands issued by ticks (divide by ticks_total for reads per tick).",
    registry=REGISTRY,
)
REDIS_READS_PER_TICK = Histogram(
    "stampede_gateway_redis_reads_per_tick",
    "Redis read commands per tick.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
    registry=REGISTRY,
)
TICK_DURATION = Histogram(
    names.GATEWAY_TICK_DURATION,
    "Read + diff + enqueue time of a tick.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
    registry=REGISTRY,
)
READ_RETRIES = Counter(
    "stampede_gateway_read_retries_total",
    "Board reads repeated because a symbol entered a board from below the rows read ahead.",
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "stampede_gateway_notifications_total",
    "Change notifications received, by result.",
    ["result"],
    registry=REGISTRY,
)
CLIENTS_DROPPED = Counter(
    "stampede_gateway_clients_dropped_total",
    "Clients disconnected for going over their bounds, by reason (too_slow, rate_limited, "
    "unresponsive: no answer to a ping, header_timeout, bad_origin).",
    ["reason"],
    registry=REGISTRY,
)
CLIENT_ERRORS = Counter(
    "stampede_gateway_client_errors_total",
    "Error frames sent to clients, by code.",
    ["code"],
    registry=REGISTRY,
)
REDIS_ERRORS = Counter(
    "stampede_gateway_redis_errors_total",
    "Redis failures (the gateway retries), by operation.",
    ["operation"],
    registry=REGISTRY,
)
FEED_LINK_POLLS = Counter(
    "stampede_gateway_feed_link_polls_total",
    "Polls of the feed bridge's /status (GATEWAY_BRIDGE_URL), by outcome (ok, error).",
    ["outcome"],
    registry=REGISTRY,
)
REPLICA_LAG = Gauge(
    "stampede_gateway_replica_lag_seconds",
    "How far the read replica is behind its primary (GATEWAY_REDIS_READ_URL; NaN: unknown).",
    registry=REGISTRY,
)
READING_PRIMARY = Gauge(
    "stampede_gateway_reading_primary",
    "1 while the gateway reads the primary because its replica is resyncing, cut off or behind.",
    registry=REGISTRY,
)
READ_SWITCHES = Counter(
    "stampede_gateway_read_switches_total",
    "Switches of where the boards are read, by the server switched to (primary, replica).",
    ["to"],
    registry=REGISTRY,
)
ADMITTED = Gauge(
    "stampede_gateway_admitted_connections",
    "WebSocket connections counted against GATEWAY_MAX_CLIENTS now (from the handshake, before "
    "authentication, to the close).",
    registry=REGISTRY,
)
ADMITTED_PEAK = Gauge(
    "stampede_gateway_admitted_connections_peak",
    "The most WebSocket connections counted at once since the gateway started.",
    registry=REGISTRY,
)
DROPPED_AFTER = Histogram(
    "stampede_gateway_client_dropped_after_seconds",
    "How long a client the gateway cut off (too_slow, rate_limited, unresponsive: no answer to "
    "a ping) had been connected: the bound a hostile client meets (its socket closes at most "
    "2 s later).",
    ["reason"],
    buckets=(0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 15.0, 30.0, 60.0),
    registry=REGISTRY,
)
