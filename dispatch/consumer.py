"""One Trigger's delivery loop: a durable JetStream pull consumer -> HTTP POSTs to its subscriber.

Each Trigger has its own consumer, fetch task and delivery lanes, so a slow or dead function only
holds up its own messages. A lane is a task with its own keep-alive HTTP/1.1 connection (one
httpx client of one connection): httpx's shared pool costs O(connections) per request, which at
32 connections cut throughput by 3x in ``bench/dispatch.py``. Ack rules are those of Knative's JetStream
dispatcher (eventing-natss): 2xx ack; 5xx, 408, 429 and network errors nak with the Trigger's
backoff until ``retry`` retries are spent; then, or at once for any other status, the message is
dead-lettered (if the Trigger has a deadLetterSink) and terminated.

The consumer is (re)created whenever it is missing: at start, after NATS restarts (the bridge's
memory streams, and their consumers, are gone until the bridge re-declares them), or when the
lag poll finds it deleted. A missing stream is waited for, not created: the bridge owns them.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from datetime import datetime
from urllib.parse import unquote

import httpx
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamInfo
from opentelemetry import propagate, trace

from stampede import metricnames as names
from stampede.dispatch.balance import Replicas
from stampede.dispatch.metrics import DispatchMetrics
from stampede.dispatch.settings import DispatchSettings
from stampede.dispatch.translate import Verdict, attributes, dead_letter_headers, to_http, verdict
from stampede.dispatch.triggers import Trigger
from stampede.logonce import LogOnce
from stampede.subjects import whole_stream

log = logging.getLogger(__name__)

FETCH_WAIT = 1.0  # seconds a fetch long-polls: also how fast a stop is noticed
STREAM_POLL = 0.25  # seconds between looks for a missing stream
ERROR_PAUSE = (0.5, 5.0)  # first and largest pause after an error before binding again
ERROR_BODY_BYTES = 2048  # how much of a failing answer is kept for the dead letter excerpt


class State(enum.Enum):
    STARTING = "starting"
    WAITING_FOR_STREAM = "waiting for stream"
    BOUND = "bound"
    FAILING = "failing"


class Rebind(Exception):
    """The consumer is gone (stream recreated, NATS restarted): create it again."""


def consumer_config(trigger: Trigger, settings: DispatchSettings) -> ConsumerConfig:
    """Durable, explicit-ack pull consumer; a fresh one starts at the oldest message the stream
    still holds: the stream's max_age already dropped whatever is stale, and what is left is
    exactly what the bridge published while this Trigger was not yet bound.

    ``max_deliver`` is only a backstop: the dispatcher itself dead-letters after ``retry`` retries;
    JetStream stops redelivering a message whose attempts kept dying mid-delivery (ack wait).
    """
    return ConsumerConfig(
        durable_name=trigger.name,
        description=f"stampede dispatch: {trigger.event_type} -> {trigger.subscriber}",
        filter_subject=trigger.filter_subject,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=settings.dispatch_ack_wait,
        max_ack_pending=settings.dispatch_max_ack_pending,
        max_deliver=trigger.delivery.retry + 3,
    )


def lanes(trigger: Trigger, settings: DispatchSettings) -> int:
    """Deliveries of a Trigger in flight at once: DISPATCH_CONCURRENCY, or fewer where the
    Trigger asks (catch-up work, see triggers.CONCURRENCY_ANNOTATION)."""
    if trigger.concurrency is None:
        return settings.dispatch_concurrency
    return min(trigger.concurrency, settings.dispatch_concurrency)


def _event_age(headers: dict[str, str] | None) -> float | None:
    """Wall seconds since the CloudEvent's ``time`` (binary mode only; no parse otherwise)."""
    stamp = (headers or {}).get("ce-time")
    if not stamp:
        return None
    try:
        return time.time() - datetime.fromisoformat(unquote(stamp)).timestamp()
    except ValueError:
        return None


def missed_before_binding(stream: StreamInfo, dispatcher_started: float) -> int:
    """The stream sequence a new consumer counts expiries from. A stream created after the
    dispatcher started was all meant for it: what aged out before the consumer existed was lost
    to its function (on a fresh JetStream cluster the first API answers take seconds, while the
    bridge is already publishing). An older stream's past was not this dispatcher's to lose."""
    if stream.created is not None and stream.created.timestamp() >= dispatcher_started:
        return 0
    return max(stream.state.first_seq - 1, 0)


class TriggerWorker:
    def __init__(
        self,
        trigger: Trigger,
        js: JetStreamContext,
        settings: DispatchSettings,
        metrics: DispatchMetrics,
        tracer: trace.Tracer,
        started: float,
    ) -> None:
        self.trigger = trigger
        self.js = js
        self.settings = settings
        self.metrics = metrics
        self.tracer = tracer
        self.state = State.STARTING
        self.detail = ""
        self._stopping = asyncio.Event()
        self._rebind = False
        self._bound_at = 0.0
        self._psub: JetStreamContext.PullSubscription | None = None
        # Room for two fetches: the next batch is pulled while the lanes work through the last,
        # and fetches stay full-sized (a fetch is a round trip to NATS).
        self._queue: asyncio.Queue[Msg] = asyncio.Queue(maxsize=2 * settings.dispatch_fetch_batch)
        self._space = asyncio.Event()
        self._busy = 0
        self._log_once = LogOnce(log)  # one line per kind of trouble until bound again
        self._last_seq = 0  # highest stream sequence fetched: a jump past it is an expiry
        self._started = started  # the dispatcher's start: a stream created later was all ours
        self.replicas = Replicas(trigger.urls, settings.dispatch_replica_concurrency)
        per_lane = len(trigger.urls)  # a keep-alive connection to each replica
        self._clients = [
            httpx.AsyncClient(
                http1=True,
                http2=False,
                timeout=settings.dispatch_request_timeout,
                limits=httpx.Limits(max_connections=per_lane, max_keepalive_connections=per_lane),
            )
            for _ in range(lanes(trigger, settings))
        ]
        self._lanes: list[asyncio.Task[None]] = []
        metrics.register_trigger(trigger.name)

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Bind and pull until stopped; every failure leads back to (re)binding.

        A vanished consumer is re-created at once and a missing stream polled often; a fresh
        consumer starts at the oldest message still in the stream. Other errors (NATS away)
        back off exponentially.
        """
        self._lanes = [
            asyncio.create_task(self._lane(client), name=f"{self.trigger.name}-lane-{i}")
            for i, client in enumerate(self._clients)
        ]
        pause = ERROR_PAUSE[0]
        while not self._stopping.is_set():
            wait = pause
            try:
                if await self._bind():
                    pause = ERROR_PAUSE[0]
                    await self._pull()
                    continue
                wait = STREAM_POLL
            except Rebind as exc:
                log.warning(
                    "trigger %s: consumer gone (%s); re-creating it", self.trigger.name, exc
                )
                self._set_bound(False)
                if time.monotonic() - self._bound_at > ERROR_PAUSE[1]:
                    continue  # gone after a good run: re-create at once
                pause = min(pause * 2, ERROR_PAUSE[1])  # gone again right away: do not spin
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                if self._stopping.is_set():
                    break
                self.state, self.detail = State.FAILING, repr(exc)
                self._log_once(
                    type(exc).__name__, "trigger %s: %r; retrying", self.trigger.name, exc
                )
                pause = min(pause * 2, ERROR_PAUSE[1])
            self._set_bound(False)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait * (0.5 + random.random()))

    def stop(self) -> None:
        """Stop fetching; in-flight deliveries go on (see ``drain``)."""
        self._stopping.set()

    async def drain(self, grace: float) -> None:
        """Nak what was fetched but not started; give in-flight deliveries ``grace`` seconds to
        finish, then nak those too (redelivered at once, here after a restart or by another replica)."""
        while not self._queue.empty():
            with contextlib.suppress(Exception):
                await self._queue.get_nowait().nak()
        deadline = time.monotonic() + grace
        while self._busy and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for lane in self._lanes:
            lane.cancel()
        await asyncio.gather(*self._lanes, return_exceptions=True)
        for client in self._clients:
            await client.aclose()
        if self._psub is not None:
            with contextlib.suppress(Exception):
                await self._psub.unsubscribe()

    def request_rebind(self) -> None:
        self._rebind = True

    @property
    def inflight(self) -> int:
        return self._busy

    # -- consumer --------------------------------------------------------------------------

    async def _bind(self) -> bool:
        """Create (or update) the durable consumer and bind to it; False while its stream is missing."""
        trigger = self.trigger
        try:
            stream = await self.js.stream_info(trigger.stream)
        except nats.js.errors.NotFoundError:
            if self.state is not State.WAITING_FOR_STREAM:
                log.info("trigger %s: waiting for stream %s", trigger.name, trigger.stream)
            self.state, self.detail = (
                State.WAITING_FOR_STREAM,
                f"stream {trigger.stream} does not exist yet",
            )
            return False
        if stream.state.last_seq < self._last_seq:
            self._last_seq = 0  # a new stream (NATS restarted): its sequences start again
        try:
            existing = await self.js.consumer_info(trigger.stream, trigger.name)
            got = existing.delivered.stream_seq or 0
        except nats.js.errors.NotFoundError:  # a new consumer
            got = missed_before_binding(stream, self._started)
        self._last_seq = max(self._last_seq, got)
        await self.js.add_consumer(trigger.stream, consumer_config(trigger, self.settings))
        if self._psub is not None:
            with contextlib.suppress(Exception):
                await self._psub.unsubscribe()
        self._psub = await self.js.pull_subscribe_bind(trigger.name, trigger.stream)
        self._rebind = False
        self._bound_at = time.monotonic()
        self._log_once.reset()
        self.state, self.detail = State.BOUND, ""
        self._set_bound(True)
        log.info(
            "trigger %s: consuming %s (%s) -> %s",
            trigger.name,
            trigger.stream,
            trigger.event_type,
            trigger.url,
        )
        return True

    def _set_bound(self, bound: bool) -> None:
        self.metrics.consumer_bound.labels(self.trigger.name).set(1 if bound else 0)
        if not bound and self.state is State.BOUND:
            self.state = State.FAILING

    async def _pull(self) -> None:
        """Fetch only as many messages as the lanes have room for (the rest stay in JetStream)."""
        assert self._psub is not None
        queue = self._queue
        while not self._stopping.is_set():
            if self._rebind:
                raise Rebind("lag poll found no consumer")
            batch = self.settings.dispatch_fetch_batch
            while queue.maxsize - queue.qsize() < batch:
                self._space.clear()
                await self._space.wait()
            want = batch
            try:
                messages = await self._psub.fetch(want, timeout=FETCH_WAIT)
            except TimeoutError:  # nats-py raises its own or the builtin one
                continue  # nothing new (or NATS is away: nats-py reconnects meanwhile)
            except (nats.js.errors.ServiceUnavailableError, nats.js.errors.NotFoundError) as exc:
                raise Rebind(repr(exc)) from exc
            for message in messages:
                self._count_expired(message.metadata.sequence.stream)
                queue.put_nowait(message)  # room was checked; only this task puts

    def _count_expired(self, seq: int) -> None:
        """A consumer that filters on the whole stream sees every sequence, so the ones it
        skipped were dropped by the stream (max_age, byte cap) before they reached this
        Trigger, including those that aged out before the consumer was first created (a cold
        start on a cluster binds seconds after the bridge began publishing). Lower sequences
        are redeliveries. (News and its history share a stream: their gaps are each other's.)"""
        if not whole_stream(self.trigger.stream, self.trigger.filter_subject):
            return
        if seq > self._last_seq + 1:
            self.metrics.expired.labels(self.trigger.name).inc(seq - self._last_seq - 1)
        self._last_seq = max(self._last_seq, seq)

    async def _lane(self, client: httpx.AsyncClient) -> None:
        while True:
            message = await self._queue.get()
            self._space.set()
            self._busy += 1
            try:
                await self._deliver(message, client)
            finally:
                self._busy -= 1

    # -- one delivery ----------------------------------------------------------------------

    async def _deliver(self, message: Msg, client: httpx.AsyncClient) -> None:
        trigger = self.trigger
        if message.metadata.num_delivered > 1:
            self.metrics.redeliveries.labels(trigger.name).inc()
        self.metrics.inflight.labels(trigger.name).inc()
        try:
            await self._deliver_once(message, client)
        except (
            nats.errors.Error
        ) as exc:  # ack/nak lost (NATS away): JetStream redelivers after ack wait
            self._log_once(
                f"settle-{type(exc).__name__}",
                "trigger %s: could not settle a message (%r)",
                trigger.name,
                exc,
            )
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await (
                    message.nak()
                )  # shutting down: another replica (or the next start) takes it now
            raise
        finally:
            self.metrics.inflight.labels(trigger.name).dec()

    async def _deliver_once(self, message: Msg, client: httpx.AsyncClient) -> None:
        trigger = self.trigger
        headers = message.headers or {}
        try:
            if trigger.other_filters and not trigger.matches(attributes(headers, message.data)):
                await message.ack()
                self.metrics.deliveries.labels(trigger.name, "filtered").inc()
                return
            http_headers, body = to_http(headers, message.data)
        except Exception as exc:  # noqa: BLE001 - an undecodable message is dead-lettered, never retried
            await self._dead_letter(message, "undecodable", None, repr(exc))
            return
        traceparent = http_headers.get("ce-traceparent")
        parent = propagate.extract({"traceparent": traceparent}) if traceparent else None
        with self.tracer.start_as_current_span(
            f"dispatch {trigger.name}",
            context=parent,
            kind=trace.SpanKind.CLIENT,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": message.subject,
                "cloudevents.event_type": trigger.event_type,
                "cloudevents.event_id": http_headers.get("ce-id", ""),
                "url.full": trigger.url,
                "stampede.delivery.attempt": message.metadata.num_delivered,
            },
        ) as span:
            propagate.inject(http_headers)  # W3C traceparent of this span for the HTTP hop
            status, error = await self._post(client, http_headers, body)
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            if verdict(status) is not Verdict.ACK:
                span.set_status(trace.StatusCode.ERROR, error[:200])
            await self._settle(message, status, error, headers)

    async def _post(
        self, client: httpx.AsyncClient, headers: dict[str, str], body: bytes
    ) -> tuple[int | None, str]:
        """POST the event; (status, error excerpt). status None = no answer (network, timeout)."""
        started = time.perf_counter()
        try:
            # Read the whole answer (functions answer briefly): an unread body would close the
            # keep-alive connection instead of returning it to the lane.
            async with self.replicas.acquire() as url:
                answer = await client.post(url, headers=headers, content=body)
            self.metrics.replica_deliveries.labels(self.trigger.name, url).inc()
            status = answer.status_code
            error = (
                ""
                if 200 <= status < 300
                else answer.content[:ERROR_BODY_BYTES].decode("utf-8", "replace")
            )
            self.metrics.request_duration.labels(self.trigger.name, str(status), "").observe(
                time.perf_counter() - started
            )
            return status, error
        except httpx.HTTPError as exc:
            self.metrics.request_duration.labels(self.trigger.name, "", type(exc).__name__).observe(
                time.perf_counter() - started
            )
            self._log_once(
                f"http-{type(exc).__name__}",
                "trigger %s: %s to %s: %s",
                self.trigger.name,
                type(exc).__name__,
                self.trigger.url,
                exc,
            )
            return None, f"{type(exc).__name__}: {exc}"

    async def _settle(
        self, message: Msg, status: int | None, error: str, headers: dict[str, str]
    ) -> None:
        trigger, metrics = self.trigger, self.metrics
        deliveries = message.metadata.num_delivered
        match verdict(status):
            case Verdict.ACK:
                await message.ack()
                metrics.deliveries.labels(trigger.name, "ack").inc()
                age = _event_age(headers)
                if age is not None and age >= 0:
                    metrics.pipeline_latency.labels(names.Stage.DISPATCH.value).observe(age)
            case Verdict.RETRY if deliveries <= trigger.delivery.retry:
                await message.nak(delay=trigger.delivery.backoff(deliveries))
                metrics.deliveries.labels(trigger.name, "nak").inc()
            case Verdict.RETRY:
                await self._dead_letter(message, "retries_exhausted", status, error)
            case Verdict.REJECT:
                self._log_once(
                    f"reject-{status}",
                    "trigger %s: %s answered %s (not retried): %s",
                    trigger.name,
                    trigger.url,
                    status,
                    error[:200],
                )
                await self._dead_letter(message, "rejected", status, error)

    async def _dead_letter(self, message: Msg, reason: str, status: int | None, error: str) -> None:
        """Publish to stampede.dlq.<function> (when the Trigger has a deadLetterSink), then terminate."""
        trigger, metrics = self.trigger, self.metrics
        meta = message.metadata
        if not trigger.delivery.dead_letter:
            await message.term()
            metrics.deliveries.labels(trigger.name, "term").inc()
            return
        headers = dead_letter_headers(
            message.headers,
            reason=reason,
            trigger=trigger.name,
            destination=trigger.url,
            subject=message.subject,
            stream_sequence=meta.sequence.stream,
            deliveries=meta.num_delivered,
            status=status,
            error=error,
        )
        try:
            await self.js.publish(trigger.dlq_subject, message.data, headers=headers)
        except (TimeoutError, nats.errors.Error) as exc:
            metrics.dead_letter_failures.labels(trigger.name).inc()
            self._log_once(
                "dlq",
                "trigger %s: dead letter not stored (%r); will retry the message",
                trigger.name,
                exc,
            )
            await message.nak(delay=trigger.delivery.backoff(meta.num_delivered) or 1.0)
            metrics.deliveries.labels(trigger.name, "nak").inc()
            return
        await message.term()
        metrics.deliveries.labels(trigger.name, "dlq").inc()
