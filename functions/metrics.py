"""Prometheus metrics of the function services, on their own registry (one per process).

Names follow OpenTelemetry semantic conventions where one exists (HTTP server duration), else
``stampede_function_<what>_<unit>``; pipeline and exchange latency use the shared names with
``stage="board_write"``.
"""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
)

from stampede import metricnames as names
from stampede.telemetry import (
    LATENCY_BUCKETS,
    exchange_latency_histogram,
    pipeline_latency_histogram,
)

REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)


HTTP_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests.",
    ["http_request_method", "http_route", "http_response_status_code"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
EVENTS_APPLIED = Counter(
    names.FUNCTION_EVENTS_APPLIED,
    "Market events in CloudEvents applied to Redis.",
    ["function"],
    registry=REGISTRY,
)
BOARD_UPDATES = Counter(
    "stampede_function_board_updates_total",
    "Applied CloudEvents that touched a board.",
    ["function", "board"],
    registry=REGISTRY,
)
BATCHES = Counter(
    names.FUNCTION_BATCHES,
    "CloudEvents (batches) handled, by outcome.",
    ["function", "outcome"],
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "stampede_function_batch_size_events",
    "Market events per applied CloudEvent.",
    ["function"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
    registry=REGISTRY,
)
DROPPED = Counter(
    names.FUNCTION_DROPPED,
    "CloudEvents not applied, by reason (stale, duplicate, invalid).",
    ["function", "reason"],
    registry=REGISTRY,
)
REDIS_APPLY = Histogram(
    names.FUNCTION_REDIS_APPLY,
    "Duration of the Redis round trip that applies one group commit (one or more CloudEvents).",
    ["function"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
GROUP_SIZE = Histogram(
    "stampede_function_group_commit_cloudevents",
    "CloudEvents merged into the group commit that applied an applied CloudEvent.",
    ["function"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
    registry=REGISTRY,
)
PIPELINE_LATENCY = pipeline_latency_histogram(REGISTRY)
EXCHANGE_LATENCY = exchange_latency_histogram(REGISTRY)
REFDATA_SYMBOLS = Counter(
    "stampede_function_refdata_symbols_loaded_total",
    "Symbols whose reference data was loaded.",
    registry=REGISTRY,
)
REFDATA_REST_PROBLEMS = Counter(
    "stampede_function_refdata_rest_problems_total",
    "Bad answers from Massive REST met by the refdata load (retried, or skipped when a record "
    "has wrong types), by kind.",
    ["kind"],
    registry=REGISTRY,
)
REFDATA_THROTTLED = Counter(
    "stampede_function_refdata_throttled_seconds_total",
    "Seconds the background fundamentals load slept, by reason: cpu (to stay within "
    "REFDATA_CPU_SHARE of a core) or live_late (while the live feed's board writes ran late).",
    ["reason"],
    registry=REGISTRY,
)
LIVE_LATE_SIGNALS = Counter(
    "stampede_function_live_late_signals_total",
    "Times a live function marked the live feed late (a batch written more than "
    "FUNCTION_LATE_SECONDS after the bridge read it), so background loads pause.",
    ["function"],
    registry=REGISTRY,
)
