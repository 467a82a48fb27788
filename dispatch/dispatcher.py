"""The dispatcher: NATS connection, one TriggerWorker per routable Trigger, lag poll, readiness.

It stays up through NATS restarts (nats-py reconnects forever; workers re-create consumers
that vanished with their streams) and through dead functions (naks with backoff, no crash).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from opentelemetry import trace

from stampede import bus
from stampede.dispatch.consumer import State, TriggerWorker
from stampede.dispatch.metrics import DispatchMetrics
from stampede.dispatch.settings import DispatchSettings
from stampede.dispatch.triggers import Trigger
from stampede.subjects import DLQ_STREAM

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        settings: DispatchSettings,
        triggers: list[Trigger],
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.settings = settings
        self.triggers = triggers
        self.tracer = tracer or trace.get_tracer("stampede.dispatch")
        self.metrics = DispatchMetrics()
        self.started = time.time()  # before the first JetStream call, which can take seconds
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self.workers: list[TriggerWorker] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._workers_started = False  # until then NATS may be up but no Trigger is bound

    async def start(self) -> None:
        self.nc = await bus.connect(
            self.settings,
            name="stampede-dispatch",
            log=log,
            on_disconnected=self._on_disconnected,
            on_reconnected=self._on_reconnected,
        )
        self.metrics.nats_connected.set(1)
        self.js = self.nc.jetstream()
        await self.ensure_dlq_stream()
        for trigger in self.triggers:
            worker = TriggerWorker(
                trigger, self.js, self.settings, self.metrics, self.tracer, self.started
            )
            self.workers.append(worker)
            self._tasks.append(asyncio.create_task(worker.run(), name=f"trigger-{trigger.name}"))
        self._tasks.append(asyncio.create_task(self._poll_lag(), name="dispatch-lag-poll"))
        self._workers_started = True

    async def ensure_dlq_stream(self) -> None:
        assert self.js is not None
        settings = self.settings
        if await bus.ensure_dlq_stream(self.js, settings.dlq_max_age, settings.dlq_replicas):
            log.info("created dead-letter stream %s", DLQ_STREAM)

    async def run(self) -> None:
        """Start, then dispatch until ``stop()``; then drain in-flight deliveries and close."""
        await self.start()
        await self._stopping.wait()
        await self.close()

    def stop(self) -> None:
        """Stop fetching (SIGTERM): in-flight deliveries get ``DISPATCH_SHUTDOWN_GRACE`` to finish."""
        if not self._stopping.is_set():
            log.info("stopping: no new fetches, finishing in-flight deliveries")
        self._stopping.set()
        for worker in self.workers:
            worker.stop()

    async def close(self) -> None:
        self.stop()
        # Workers notice the stop within one fetch wait; their in-flight tasks are drained next.
        await asyncio.wait(self._tasks, timeout=5.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        grace = self.settings.dispatch_shutdown_grace
        await asyncio.gather(*(worker.drain(grace) for worker in self.workers))
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        self.metrics.nats_connected.set(0)
        log.info("stopped")

    async def readiness(self) -> tuple[bool, str]:
        """Ready: NATS connected and every Trigger bound (or waiting for a stream the bridge has not
        declared yet: nothing to deliver, and `stampede up` starts the dispatcher before the bridge)."""
        if self.nc is None or not self.nc.is_connected:
            return False, "NATS not connected"
        if not self._workers_started:
            return False, "starting"
        states = {w.trigger.name: w.state for w in self.workers}
        detail = (
            ", ".join(f"{name}: {state.value}" for name, state in states.items()) or "no triggers"
        )
        ok = all(s in (State.BOUND, State.WAITING_FOR_STREAM) for s in states.values())
        return ok, detail

    async def _poll_lag(self) -> None:
        """Consumer lag per Trigger; a consumer found missing is re-created by its worker."""
        while not self._stopping.is_set():
            for worker in self.workers:
                if worker.state is not State.BOUND or self.nc is None or not self.nc.is_connected:
                    continue
                assert self.js is not None  # set together with nc
                trigger = worker.trigger
                try:
                    info = await self.js.consumer_info(trigger.stream, trigger.name, timeout=2)
                except nats.js.errors.NotFoundError:
                    worker.request_rebind()
                    continue
                except (TimeoutError, nats.errors.Error):
                    continue  # NATS away: the workers notice and recover on their own
                self.metrics.consumer_pending.labels(trigger.name).set(info.num_pending or 0)
                self.metrics.consumer_ack_pending.labels(trigger.name).set(
                    info.num_ack_pending or 0
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), self.settings.dispatch_lag_poll_interval
                )

    async def _on_disconnected(self) -> None:
        self.metrics.nats_connected.set(0)
        if not self._stopping.is_set():
            log.warning("nats disconnected; reconnecting")

    async def _on_reconnected(self) -> None:
        self.metrics.nats_connected.set(1)
        log.warning("nats reconnected; consumers are re-created where they vanished")
        self._tasks.append(
            asyncio.create_task(self._ensure_dlq_quietly(), name="dispatch-dlq-stream")
        )

    async def _ensure_dlq_quietly(self) -> None:
        with contextlib.suppress(nats.errors.Error, asyncio.TimeoutError):
            await self.ensure_dlq_stream()
