"""Logging, metrics and tracing set up the same way in every process.

- Logs: one JSON object per line on stderr (python-json-logger), or plain text for people.
- Metrics: prometheus-client registries exposed at ``/metrics`` by each service.
- Traces: OpenTelemetry SDK; exported over OTLP only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is
  set (standard ``OTEL_*`` variables apply), otherwise the no-op tracer keeps the cost near zero.
"""

from __future__ import annotations

import logging
import os
import sys

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Histogram
from pythonjsonlogger.json import JsonFormatter

from stampede import metricnames as names
from stampede.settings import CommonSettings


def setup_logging(settings: CommonSettings, component: str) -> logging.Logger:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                static_fields={"component": component},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s [{component}] %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for noisy in ("uvicorn.access", "httpx", "nats"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return logging.getLogger(f"stampede.{component}")


def setup_tracing(settings: CommonSettings, component: str) -> trace.Tracer:
    """Install an SDK tracer provider when an OTLP endpoint is configured.

    The SDK reads the standard variables itself: ``OTEL_TRACES_SAMPLER``/``_ARG`` (default
    ``parentbased_always_on``), ``OTEL_EXPORTER_OTLP_*`` (endpoint, headers, timeout,
    compression; OTLP over HTTP/protobuf), ``OTEL_BSP_*`` (batching), ``OTEL_RESOURCE_ATTRIBUTES``.
    ``OTEL_SDK_DISABLED=true`` keeps the no-op tracer even with an endpoint set.
    """
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return trace.get_tracer(f"stampede.{component}")
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({"service.name": settings.otel_service_name or component})
        provider = TracerProvider(resource=resource)  # sampler from OTEL_TRACES_SAMPLER*
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    return trace.get_tracer(f"stampede.{component}")


# One bucket layout for every latency histogram, so stages compare and aggregate: sub-ms for
# publish acks, up to minutes for exchange time behind a stalled pipeline.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)


def pipeline_latency_histogram(registry: CollectorRegistry) -> Histogram:
    """``stampede_pipeline_latency_seconds{stage}``: from the bridge reading the frame
    (CloudEvent ``time``) to ``stage`` (publish, dispatch, board_write, client_send)."""
    return Histogram(
        names.PIPELINE_LATENCY,
        "Wall time from the bridge reading the frame (CloudEvent time) to the stage.",
        ["stage"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )


def exchange_latency_histogram(registry: CollectorRegistry) -> Histogram:
    """``stampede_exchange_latency_seconds{stage}``: from the newest event's exchange timestamp
    to ``stage``; meaningful when the feed runs in real time."""
    return Histogram(
        names.EXCHANGE_LATENCY,
        "Wall time from the newest event's exchange timestamp to the stage.",
        ["stage"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
