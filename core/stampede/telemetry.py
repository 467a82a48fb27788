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
from pythonjsonlogger.json import JsonFormatter

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
    return logging.getLogger(component)


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
