"""Test helpers: recording HTTP subscribers, bridge-like streams and publishing, a dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import nats
from fastapi import FastAPI, Request, Response
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from stampede.dispatch.dispatcher import Dispatcher
from stampede.dispatch.settings import DispatchSettings
from stampede.dispatch.triggers import load_triggers, routable
from stampede.events import RawJSONFormat, market_batch_event
from stampede.market import Channel
from stampede.nats_binding import to_binary, to_structured
from stampede.service import serve_in_background
from stampede.subjects import stream_name, stream_subjects, subject
from stampede.tools.localstack import free_port

FORMAT = RawJSONFormat()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Subscriber:
    """A function stand-in: records every request, answers the next programmed status (then 200)."""

    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/")
        async def receive(request: Request) -> Response:
            self.received.append(
                Received(dict(request.headers), await request.body(), time.monotonic())
            )
            if self.delay:
                await asyncio.sleep(self.delay)
            status = self.statuses.pop(0) if self.statuses else 200
            return Response(
                f"status {status} from test subscriber\r\nsecond line", status_code=status
            )

        return app


@contextlib.asynccontextmanager
async def serve_subscriber(subscriber: Subscriber) -> AsyncIterator[Subscriber]:
    port = free_port()
    server, task = await serve_in_background(subscriber.app(), "127.0.0.1", port)
    while not server.started:
        await asyncio.sleep(0.01)
    subscriber.url = f"http://127.0.0.1:{port}"
    try:
        yield subscriber
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


def market_stream(channel: Channel, max_age: float = 60.0) -> StreamConfig:
    """A channel stream as the bridge declares it (memory, limits, discard old)."""
    return StreamConfig(
        name=stream_name(channel),
        subjects=stream_subjects(channel),
        storage=StorageType.MEMORY,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=max_age,
    )


def batch_message(
    channel: Channel, n: int, *, structured: bool = False, traceparent: str | None = None, **kw
):
    data = (
        b"["
        + b",".join(
            b'{"ev":"%s","sym":"S%d","p":1.5}' % (channel.value.encode(), i) for i in range(n)
        )
        + b"]"
    )
    event = market_batch_event(channel, data, "/test/bridge", traceparent=traceparent, **kw)
    return event, (to_structured if structured else to_binary)(event, FORMAT)


async def publish(js: JetStreamContext, channel: Channel, count: int = 1, **kw) -> list:
    events = []
    for _ in range(count):
        event, message = batch_message(channel, 3, **kw)
        await js.publish(subject(channel), message.payload, headers=message.headers)
        events.append(event)
    return events


TRIGGER_TEMPLATE = """\
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: {name}
spec:
  broker: stampede
  filter:
    attributes:
      type: {type}
  subscriber:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: {name}
  delivery:
    retry: {retry}
    backoffPolicy: exponential
    backoffDelay: {delay}
    deadLetterSink:
      ref:
        apiVersion: messaging.knative.dev/v1alpha1
        kind: NatsJetStreamChannel
        name: stampede-dead-letters
"""


def write_triggers(path: Path, specs: list[dict]) -> Path:
    path.write_text(
        "---\n".join(
            TRIGGER_TEMPLATE.format(**{"retry": 2, "delay": "PT0.05S", **s}) for s in specs
        )
    )
    return path


@contextlib.asynccontextmanager
async def running_dispatcher(
    nats_url: str, triggers_path: Path, urls: dict[str, str], **settings
) -> AsyncIterator[Dispatcher]:
    overrides = ",".join(f"{k}={v}" for k, v in urls.items())
    config = DispatchSettings(
        nats_url=nats_url,
        dispatch_triggers_path=triggers_path,
        dispatch_subscriber_urls=overrides,
        dispatch_lag_poll_interval=0.2,
        dispatch_shutdown_grace=5,
        **settings,
    )
    triggers = routable(
        load_triggers(triggers_path, config.dispatch_namespace, config.subscriber_overrides())
    )
    dispatcher = Dispatcher(config, triggers)
    await dispatcher.start()
    try:
        yield dispatcher
    finally:
        await dispatcher.close()


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 15.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def all_bound(dispatcher: Dispatcher) -> None:
    await eventually(
        lambda: all(w.state.value == "bound" for w in dispatcher.workers), what="consumers bound"
    )


def metric(dispatcher: Dispatcher, name: str, **labels: str) -> float:
    value = dispatcher.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@contextlib.asynccontextmanager
async def jetstream(url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()
