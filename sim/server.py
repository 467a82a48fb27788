"""The simulator process: Massive's stocks WebSocket and REST API on one port.

One ``websockets`` server serves both: ``ws://HOST:PORT/stocks`` is the feed, and every other
request is answered by the REST layer from the ``process_request`` hook, so there is one event
loop, one port and no ASGI layer on the hot path (see docs/simulator.md for the measurement
behind that choice).

WebSocket protocol (``shared/massive-protocol.md``): ``connected`` on open; ``auth`` answered
``auth_success`` or ``auth_failed`` (then closed), no auth within ``sim_auth_timeout`` ->
``auth_timeout``; ``subscribe``/``unsubscribe`` answered with one status frame per topic;
malformed messages -> ``Invalid JSON``; one connection per key (a new one evicts the old with
``max_connections``); a client whose buffer passes the bound is cut off with ``slow_consumer``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import date
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
from prometheus_client import generate_latest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from stampede import markettime
from stampede.sim.client import CLOSE_POLICY, Client
from stampede.sim.clock import SimClock, default_day, parse_start
from stampede.sim.faults import FeedFaults
from stampede.sim.feed import Feed
from stampede.sim.metrics import SimMetrics
from stampede.sim.model import MarketModel
from stampede.sim.reference_rest import ReferenceApi
from stampede.sim.reference_truth import add_reference_truth, reference_data
from stampede.sim.replay import Recorder, ReplaySource
from stampede.sim.replies import Reply
from stampede.sim.rest import RestApi
from stampede.sim.settings import SimSettings
from stampede.sim.truth import Truth
from stampede.sim.universe import build_history, build_universe

log = logging.getLogger(__name__)


class Simulator:
    def __init__(self, settings: SimSettings) -> None:
        self.settings = s = settings
        self.api_key = s.massive_api_key.get_secret_value()
        self.metrics = SimMetrics()
        replay = ReplaySource(s.sim_replay, s.sim_agg_delay_ms) if s.sim_replay else None
        if s.sim_date:
            day = date.fromisoformat(s.sim_date)
        elif replay is not None and replay.frames:
            day = markettime.et_datetime(replay.start_ms).date()
        else:
            day = default_day()
        if replay is None and not markettime.is_trading_day(day):
            raise ValueError(f"{day} is not an XNYS trading day")
        self.day = day
        self.universe = build_universe(s.sim_seed, s.sim_symbols)
        self.history = build_history(self.universe, day, s.sim_history_days, s.sim_seed)
        self.index = self.universe.index()
        self.model = self._model(day)
        start_ms = replay.start_ms if replay is not None else parse_start(day, s.sim_start)
        self.clock = SimClock(start_ms, s.sim_speed)
        self.recorder = Recorder(s.sim_record) if s.sim_record else None
        self.fundamentals, self.news = reference_data(self.universe, self.model, day, s.sim_seed)

        self.feed = Feed(
            self.clock,
            self.universe.symbols,
            self.metrics,
            model=None if replay else self.model,
            replay=replay,
            agg_delay_ms=s.sim_agg_delay_ms,
            tick_ms=s.sim_tick_ms,
            frame_events=s.sim_frame_events,
            recorder=self.recorder,
        )
        self.feed_faults = FeedFaults(lambda: list(self.feed.clients), self.metrics, self.feed.stop)
        self.rest = RestApi(
            self.universe,
            self.history,
            self.model,
            self.clock,
            self.api_key,
            s.sim_seed,
            s.sim_rest_rate_limit,
            truth=self.truth,
            ready=lambda: self._running,
            metrics_text=lambda: generate_latest(self.metrics.registry),
            extra_routes=[
                *ReferenceApi(
                    self.fundamentals, self.news, self.clock, lambda: f"http://{self.rest.host}"
                ).routes(),
                *self.feed_faults.routes(),
            ],
        )
        self.feed.on_new_day = self._new_day
        self.truths: dict[str, Truth] = {}
        self.by_key: dict[str, Client] = {}
        self._server: Server | None = None
        self._feed_task: asyncio.Task[None] | None = None
        self._running = False

    def _model(self, day: date) -> MarketModel:
        s = self.settings
        return MarketModel(
            self.universe,
            self.history,
            day,
            s.sim_seed,
            rate=s.sim_rate,
            shape=s.sim_shape,
            activity=s.sim_activity,
            correction_rate=s.sim_correction_rate,
        )

    def _new_day(self, day: date) -> MarketModel | None:
        """The clock passed midnight into ``day``: the next session's market, if ``day`` is one.

        The history moves on a session (so REST serves yesterday's bars and today's previous
        close), the model starts the new day, and ground truth starts afresh, so a scanner left
        running sees 04:00 of the next trading day as it would live. (The new day's history is
        derived from the seed like every history, not from the day just simulated.)"""
        if not markettime.is_trading_day(day):
            return None
        s = self.settings
        self.day = day
        self.history = build_history(self.universe, day, s.sim_history_days, s.sim_seed)
        self.model = self._model(day)
        self.rest.history, self.rest.model = self.history, self.model
        self.truths = {}
        for client in self.feed.clients:
            if client.key is not None:
                client.truth = self.truths.setdefault(client.key, self._new_truth())
        log.info("new trading day %s", day)
        return self.model

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.feed.prepare()
        self.clock.restart(self.clock.start_ms)  # the simulated day starts when we can serve it
        self.clock.held = self.settings.sim_hold_clock
        self._server = await serve(
            self._handle,
            self.settings.sim_host,
            self.settings.sim_port,
            process_request=self._process_request,
            compression=None,
            max_size=1 << 20,
            write_limit=1 << 20,
            ping_interval=20,
            ping_timeout=20,
            logger=logging.getLogger("stampede.sim.websockets"),
        )
        self._feed_task = asyncio.create_task(self.feed.run(), name="sim-feed")
        self._running = True

    async def stop(self) -> None:
        self._running = False
        self.feed.stop()
        if self._feed_task is not None:
            await self._feed_task
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for client in list(self.feed.clients):
            await client.stop()
        if self.recorder is not None:
            self.recorder.close()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def host(self) -> str:
        return self.settings.sim_host

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/stocks"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ test hooks
    @property
    def clients(self) -> list[Client]:
        return list(self.feed.clients)

    async def pause_feed(self) -> None:
        """Stop sending market events (connections stay open): lets a test drain and compare."""
        self.feed.stop()
        if self._feed_task is not None:
            await self._feed_task

    def drop_connections(self) -> int:
        """Cut every WebSocket like a network failure (no status, no close frame)."""
        return self.feed_faults.drop()

    def disconnect_all(self, status: str = "force_disconnect", message: str | None = None) -> int:
        """Send ``status`` to every client and close it, as the service does on maintenance."""
        return self.feed_faults.disconnect(status, message)

    # ------------------------------------------------------------------ ground truth
    def truth(self, query: dict[str, str] | None = None) -> dict[str, Any]:
        query = query or {}
        limit = int(query.get("limit", 50))
        symbols = [s for s in query.get("symbols", "").split(",") if s] or None
        scope = query.get("scope", "sent")
        if scope == "market":
            truth = self._market_truth()
        else:
            truth = self.truths.get(query.get("apiKey") or self.api_key) or self._new_truth()
        doc = truth.snapshot(limit=limit, symbols=symbols)
        now = self.clock.now_ms()
        add_reference_truth(doc, self.fundamentals, self.news, self.index, now, limit)
        doc.update(
            scope=scope,
            sim_ms=now,
            day=self.day.isoformat(),
            prev_session=self.history.sessions[-1].isoformat(),
        )
        return doc

    def _new_truth(self) -> Truth:
        return Truth(self.universe.symbols, self.history.c[:, -1])

    def _market_truth(self) -> Truth:
        """Everything generated so far, sent or not (what an ``A.*`` reader would converge to)."""
        t, m = self._new_truth(), self.model
        t.last, t.volume, t.open, t.high = (
            m.last.copy(),
            m.av.astype(float),
            m.op.copy(),
            m.day_high.copy(),
        )
        t.bars = (m.av > 0).astype(np.int64)
        return t

    # ------------------------------------------------------------------ HTTP
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path, _, qs = request.path.partition("?")
        if path == "/stocks" and "websocket" in request.headers.get("Upgrade", "").lower():
            if self.feed_faults.refusing():  # a load balancer with no healthy backend
                return _http(Reply(503, b'{"status":"ERROR","error":"Service Unavailable"}'))
            return None
        started = time.perf_counter()
        query = dict(parse_qsl(qs))
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        try:
            reply = self.rest.handle(path, query, headers)
        except Exception:
            log.exception("REST handler failed for route %s", path.split("/")[1:3])
            reply = Reply(500, b'{"status":"ERROR","error":"Internal error"}', route="error")
        self.metrics.http.labels("GET", reply.route, str(reply.status)).observe(
            time.perf_counter() - started
        )
        return _http(reply)

    # ------------------------------------------------------------------ WebSocket
    def _count_frame(self, client: Client, frame: bytes) -> None:
        self.metrics.frames.inc()
        self.metrics.bytes.inc(len(frame))

    async def _handle(self, ws: ServerConnection) -> None:
        client = Client(
            ws,
            self.index,
            self.settings.sim_slow_consumer_bytes,
            on_frame=self._count_frame,
            on_terminate=lambda status: self.metrics.disconnects.labels(status).inc(),
        )
        self.feed.clients.add(client)
        self.metrics.connections.inc()
        client.send_status("connected", "Connected Successfully")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.sim_auth_timeout
        try:
            while True:
                if client.key is None and not client.closed:
                    try:
                        raw = await asyncio.wait_for(ws.recv(), max(0.0, deadline - loop.time()))
                    except TimeoutError:
                        self._end(
                            client,
                            "auth_timeout",
                            "No authentication request received.",
                            CLOSE_POLICY,
                        )
                        continue
                else:
                    raw = await ws.recv()
                self._on_message(client, raw)
        except ConnectionClosed:
            pass
        finally:
            self.feed.clients.discard(client)
            if client.key is not None and self.by_key.get(client.key) is client:
                del self.by_key[client.key]
            self.metrics.connections.dec()
            await client.stop()

    def _end(self, client: Client, status: str, message: str, code: int = 1000) -> None:
        client.terminate(status, message, code)

    def _on_message(self, client: Client, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            self.metrics.client_errors.labels("invalid_json").inc()
            client.send_status("error", "Invalid JSON")
            return
        action, params = msg.get("action"), msg.get("params")
        if action == "auth":
            self._auth(client, params)
        elif action in ("subscribe", "unsubscribe"):
            if client.key is None:
                self.metrics.client_errors.labels("not_authenticated").inc()
                client.send_status("error", "not authorized")
                return
            self._subscription(client, action, params)
        else:
            self.metrics.client_errors.labels("unknown_action").inc()
            client.send_status("error", f"unknown action: {action}")

    def _auth(self, client: Client, params: object) -> None:
        if client.key is not None:
            client.send_status("auth_success", "authenticated")
            return
        if params != self.api_key:
            self.metrics.client_errors.labels("auth_failed").inc()
            self._end(client, "auth_failed", "authentication failed", CLOSE_POLICY)
            return
        older = self.by_key.get(params)
        if older is not None and older is not client:
            self._end(older, "max_connections", "Maximum number of connections exceeded.")
        self.by_key[params] = client
        client.key = params
        client.truth = self.truths.setdefault(params, self._new_truth())
        client.send_status("auth_success", "authenticated")

    def _subscription(self, client: Client, action: str, params: object) -> None:
        topics = client.subs.parse(params)
        if not topics:
            self.metrics.client_errors.labels("invalid_params").inc()
            client.send_status("error", "invalid params")
        for topic, channel, ticker in topics:
            if channel is None:
                self.metrics.client_errors.labels("invalid_topic").inc()
                client.send_status("error", f"invalid subscription: {topic}")
            elif action == "subscribe":
                client.subs.add(channel, ticker)
                client.send_status("success", f"subscribed to: {topic}")
            else:
                client.subs.remove(channel, ticker)
                client.send_status("success", f"unsubscribed to: {topic}")


def _http(reply: Reply) -> Response:
    headers = Headers(
        [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(reply.body))),
            ("Connection", "close"),
        ]
    )
    return Response(reply.status, HTTPStatus(reply.status).phrase, headers, reply.body)
