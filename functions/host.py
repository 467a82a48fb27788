"""The shared host: turns a function's handler (``<name>/func.py``) into an ASGI service.

To a user each function looks like a Knative ``func`` Python project: ``func.py`` exposes
``new()`` returning an object with ``name``, ``event_types`` and ``async handle(event, ctx)``;
the pure scoring sits beside it in ``scoring.py``. This host adds what every function needs:
CloudEvents HTTP parsing (binary, structured, batched), the status codes Knative's retry
policy expects, freshness drops, metrics, tracing, health/readiness and the Redis client.

Status codes: 200 applied (or skipped as duplicate/stale - the body says which; never worth a
retry), 400 malformed or unknown event (never retried), 401 unsigned or forged where
FUNCTION_EVENT_KEY is set (never retried), 413 body too large, 503 Redis
unavailable (the sender retries later).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import FastAPI
from opentelemetry import propagate, trace
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from stampede import metricnames as names
from stampede import redisclient, signing
from stampede.functions import metrics
from stampede.functions.cloudevents_http import Incoming, InvalidCloudEvent, parse
from stampede.functions.late import LateSignal
from stampede.functions.reference import ReferenceCache
from stampede.functions.settings import FunctionSettings
from stampede.functions.store import Store
from stampede.logonce import LogOnce
from stampede.redisclient import RedisClient
from stampede.service import add_service_routes

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


class BadEvent(ValueError):
    """The CloudEvent's data is not what its type promises (answered 400)."""


class Unavailable(RuntimeError):
    """A dependency other than Redis is down (answered 503 so the sender retries)."""


@dataclass(slots=True)
class Outcome:
    """What a handler did with one CloudEvent."""

    status: str  # "applied" | "duplicate" | "ignored"
    events: int = 0
    boards: tuple[str, ...] = ()
    exchange_ms: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Handler(Protocol):
    name: str
    event_types: frozenset[str]
    checks_age: bool  # market data goes stale (and, written late, pauses background loads)
    checks_signature: bool  # with FUNCTION_EVENT_KEY: only the pipeline's signed events count

    async def handle(self, event: Incoming, ctx: Context) -> Outcome: ...


@dataclass
class Context:
    """What a handler may use: settings, Redis (via the store) and the reference cache."""

    function: str
    settings: FunctionSettings
    redis: RedisClient
    store: Store
    references: ReferenceCache
    tracer: trace.Tracer
    log: logging.Logger
    late: LateSignal | None = None  # live functions: a late batch pauses background loads

    @contextlib.contextmanager
    def redis_apply(self) -> Iterator[None]:
        """Wrap the Redis round trip of one group commit: child span + latency histogram."""
        start = time.perf_counter()
        with self.tracer.start_as_current_span("redis apply"):
            yield
        metrics.REDIS_APPLY.labels(self.function).observe(time.perf_counter() - start)


def redis_client(settings: FunctionSettings) -> RedisClient:
    """A client that fails fast when Redis is down (the sender retries; we answer 503)."""
    return redisclient.connect(
        settings,
        socket_connect_timeout=1.0,
        socket_timeout=5.0,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=0,
    )


def build_app(
    handler: Handler, settings: FunctionSettings, tracer: trace.Tracer, log: logging.Logger
) -> FastAPI:
    """The ASGI app serving ``handler`` on ``POST /``."""
    state: dict[str, Context] = {}
    log_bad_input = LogOnce(log)
    name = handler.name
    max_age_ms = settings.function_max_event_age_seconds * 1000
    secret = settings.function_event_key.get_secret_value()
    key = signing.key_of(secret) if secret and handler.checks_signature else None

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        redis = redis_client(settings)
        ctx = Context(
            function=name,
            settings=settings,
            redis=redis,
            store=Store(
                redis,
                settings.function_board_size,
                settings.function_seen_ttl_seconds,
                settings.redis_shards,
            ),
            references=ReferenceCache(redis, settings.function_reference_cache_seconds),
            tracer=tracer,
            log=log,
            late=LateSignal(redis, name, settings.function_late_seconds)
            if handler.checks_age
            else None,
        )
        state["ctx"] = ctx
        start = getattr(handler, "start", None)
        if start is not None:
            await start(ctx)
        try:
            yield
        finally:
            stop = getattr(handler, "stop", None)
            if stop is not None:
                await stop()
            await redis.aclose()

    app = FastAPI(
        title=f"stampede function {name}",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    async def ready() -> tuple[bool, str]:
        try:
            await state["ctx"].redis.ping()
        except (*REDIS_DOWN, KeyError) as exc:
            return False, f"redis unavailable: {type(exc).__name__}"
        return True, "redis reachable"

    add_service_routes(app, ready, registry=metrics.REGISTRY)

    def error(status: int, kind: str, message: str) -> tuple[int, dict[str, Any]]:
        metrics.DROPPED.labels(name, kind).inc()
        metrics.BATCHES.labels(name, kind).inc()
        if status in (400, 401):
            log_bad_input(
                kind, "bad input (%s): %s (further ones are only counted)", kind, message[:300]
            )
        return status, {"status": "error", "error": kind, "message": message}

    async def process(event: Incoming) -> tuple[int, dict[str, Any]]:
        if key and not signing.valid(
            key, event.id, event.type, event.source, event.data or b"", event.signature
        ):
            return error(
                401,
                "forged",
                f"{event.id!r}: no valid {signing.EXTENSION} signature (only the pipeline's "
                "events are accepted, signed in binary mode)",
            )
        if event.type not in handler.event_types:
            return error(
                400,
                "invalid",
                f"function {name!r} does not handle type "
                f"{event.type!r}; it handles {sorted(handler.event_types)}",
            )
        now_ms = time.time() * 1000
        if handler.checks_age and event.time_ms is not None and max_age_ms > 0:
            age_ms = now_ms - event.time_ms
            if age_ms > max_age_ms:
                metrics.DROPPED.labels(name, "stale").inc()
                metrics.BATCHES.labels(name, "stale").inc()
                return 200, {"status": "stale", "id": event.id, "age_seconds": age_ms / 1000}
        parent = (
            propagate.extract({"traceparent": event.traceparent}) if event.traceparent else None
        )
        with tracer.start_as_current_span(
            f"{name} process", context=parent, kind=trace.SpanKind.SERVER
        ) as span:
            span.set_attribute("cloudevents.event_id", event.id)
            span.set_attribute("cloudevents.event_type", event.type)
            try:
                outcome = await handler.handle(event, state["ctx"])
            except BadEvent as exc:
                span.set_status(trace.StatusCode.ERROR, "invalid event data")
                return error(400, "invalid", str(exc))
            except REDIS_DOWN as exc:
                span.set_status(trace.StatusCode.ERROR, f"redis unavailable: {type(exc).__name__}")
                metrics.BATCHES.labels(name, "redis_unavailable").inc()
                return 503, {
                    "status": "error",
                    "error": "redis_unavailable",
                    "message": f"Redis unavailable ({type(exc).__name__}); retry later",
                }
            except Unavailable as exc:
                span.set_status(trace.StatusCode.ERROR, "upstream unavailable")
                metrics.BATCHES.labels(name, "upstream_unavailable").inc()
                return 503, {
                    "status": "error",
                    "error": "upstream_unavailable",
                    "message": str(exc),
                }
            span.set_attribute("stampede.events", outcome.events)
        metrics.BATCHES.labels(name, outcome.status).inc()
        if outcome.status == "duplicate":
            metrics.DROPPED.labels(name, "duplicate").inc()
        elif outcome.status == "applied":
            done = time.time()
            metrics.EVENTS_APPLIED.labels(name).inc(outcome.events)
            metrics.BATCH_SIZE.labels(name).observe(outcome.events)
            if "group" in outcome.detail:
                metrics.GROUP_SIZE.labels(name).observe(outcome.detail["group"])
            for board in outcome.boards:
                metrics.BOARD_UPDATES.labels(name, board).inc()
            if event.time_ms is not None:
                latency = max(done - event.time_ms / 1000, 0.0)
                metrics.PIPELINE_LATENCY.labels(names.Stage.BOARD_WRITE.value).observe(latency)
                late = state["ctx"].late
                if late is not None:
                    await late.note(latency)
            if outcome.exchange_ms is not None:
                metrics.EXCHANGE_LATENCY.labels(names.Stage.BOARD_WRITE.value).observe(
                    max(done - outcome.exchange_ms / 1000, 0.0)
                )
        body = {
            "status": outcome.status,
            "id": event.id,
            "events": outcome.events,
            "boards": list(outcome.boards),
            **outcome.detail,
        }
        return 200, body

    async def receive(request: Request) -> Response:
        start = time.perf_counter()
        status, body = await _receive(request)
        metrics.HTTP_DURATION.labels("POST", "/", str(status)).observe(time.perf_counter() - start)
        return JSONResponse(body, status_code=status)

    async def _receive(request: Request) -> tuple[int, Any]:
        limit = settings.function_max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return error(413, "too_large", f"body of {declared} bytes exceeds {limit}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return error(413, "too_large", f"body exceeds {limit} bytes")
            chunks.append(chunk)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            events = parse(headers, b"".join(chunks))
        except InvalidCloudEvent as exc:
            return error(400, "invalid", str(exc))
        if headers.get("content-type", "").startswith("application/cloudevents-batch+json"):
            # concurrently, so the events of one batched request share a group commit
            results = await asyncio.gather(*(process(event) for event in events))
            worst = max((code for code, _ in results), default=200)
            return worst, {"results": [body for _, body in results]}
        return await process(events[0])

    async def describe(_request: Request) -> Response:
        return JSONResponse({"function": name, "event_types": sorted(handler.event_types)})

    app.router.add_route("/", receive, methods=["POST"])
    app.router.add_route("/", describe, methods=["GET"])
    return app
