"""The gateway's HTTP face: dashboard, REST, WebSocket, health and metrics (FastAPI)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Mapping
from importlib import resources
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from starlette.websockets import WebSocketDisconnect

from stampede.boards import BOARDS, BOARDS_BY_NAME
from stampede.gateway import messages, metrics
from stampede.gateway.hub import Client, Hub, Outgoing, now_ms
from stampede.gateway.messages import ProtocolError
from stampede.gateway.scans import FILTER_FIELDS, FilterError, Filters, Spec
from stampede.gateway.settings import GatewaySettings
from stampede.gateway.store import read_boards
from stampede.gateway.symbols import symbol_router
from stampede.service import add_service_routes

log = logging.getLogger(__name__)
STATIC = resources.files("stampede.gateway") / "static"


class BoardInfo(BaseModel):
    name: str
    title: str
    metric: str = Field(description="The row field the board ranks by.")
    ascending: bool = Field(description="True when the smallest metric ranks first.")


class BoardSnapshot(BaseModel):
    board: str
    day: str = Field(description="ET trading day, YYYY-MM-DD.")
    limit: int
    filters: dict[str, float]
    exchange_ms: int | None = Field(description="Exchange time (Unix ms) of the newest data seen.")
    received_ms: int | None = Field(description="When the bridge read the newest data (Unix ms).")
    server_ms: int
    rows: list[dict[str, Any]] = Field(
        description="Rows in rank order (fields: see docs/gateway.md)."
    )


class ErrorBody(BaseModel):
    code: str
    message: str


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    redis = aioredis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=15,
    )
    hub = Hub(settings, redis)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
            await redis.aclose()

    app = FastAPI(
        title="Stampede gateway",
        version=messages.PROTOCOL,
        description="Live scanner boards: REST snapshots, WebSocket diffs (protocol "
        f"`{messages.PROTOCOL}`, see docs/gateway.md and schemas/gateway-ws.v1.json) and the dashboard.",
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.settings = settings

    def authorize(request: Request) -> None:
        if not settings.gateway_token:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not _same(token, settings.gateway_token):
            raise HTTPException(
                401,
                {"code": "unauthorized", "message": "missing or wrong bearer token"},
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = (
            exc.detail
            if isinstance(exc.detail, dict)
            else {"code": "error", "message": str(exc.detail)}
        )
        return JSONResponse(detail, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
            for e in exc.errors()
        )
        return JSONResponse({"code": "bad_request", "message": problems}, status_code=422)

    async def ready() -> tuple[bool, str]:
        try:
            await asyncio.wait_for(redis.ping(), 2.0)
        except (TimeoutError, RedisError, OSError) as exc:
            return False, f"redis unreachable: {exc}"
        if not hub.listening:
            return False, "not subscribed to change notifications yet"
        return True, f"day {hub.day}, {len(hub.clients)} clients"

    add_service_routes(app, ready, registry=metrics.REGISTRY)

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get(
        "/api/boards",
        response_model=list[BoardInfo],
        dependencies=[Depends(authorize)],
        responses={401: {"model": ErrorBody}},
    )
    async def list_boards() -> list[BoardInfo]:
        """The board catalogue."""
        return [
            BoardInfo(name=b.name, title=b.title, metric=b.metric, ascending=b.ascending)
            for b in BOARDS
        ]

    @app.get(
        "/api/boards/{name}",
        response_model=BoardSnapshot,
        dependencies=[Depends(authorize)],
        responses={
            401: {"model": ErrorBody},
            404: {"model": ErrorBody},
            422: {"model": ErrorBody},
            503: {"model": ErrorBody},
        },
    )
    async def board_snapshot(
        request: Request,
        name: Annotated[str, Path(description="Board name, see /api/boards.")],
        limit: Annotated[int, Query(ge=1, description="Rows (at most GATEWAY_MAX_LIMIT).")] = 20,
    ) -> BoardSnapshot:
        """A snapshot of one board: top `limit` rows that pass the filters (read now).

        Filters are query parameters `min_<field>` / `max_<field>` on any numeric row field
        (`min_price`, `max_price`, `min_volume`, `min_change_pct`, `max_float_shares`, ...) and
        `min_/max_<name>_age_s` on time fields (`max_hod_age_s=60`); see docs/gateway.md.
        """
        if name not in BOARDS_BY_NAME:
            raise HTTPException(
                404,
                {"code": "unknown_board", "message": f"unknown board {name!r}; see /api/boards"},
            )
        if limit > settings.gateway_max_limit:
            raise HTTPException(
                422,
                {
                    "code": "bad_request",
                    "message": f"limit is above the maximum {settings.gateway_max_limit}",
                },
            )
        try:
            filters = Filters.parse(filter_params(request.query_params))
        except FilterError as exc:
            raise HTTPException(422, {"code": "bad_request", "message": str(exc)}) from None
        spec = Spec(name, limit, filters)
        try:
            read = await read_boards(
                redis, hub.day, {name: spec.depth(settings.gateway_filter_depth)}
            )
        except (RedisError, OSError) as exc:
            raise HTTPException(503, {"code": "redis_unavailable", "message": str(exc)}) from None
        fresh = hub.boards.get(name)
        return BoardSnapshot(
            board=name,
            day=hub.day,
            limit=limit,
            filters=spec.filters.to_wire(),
            exchange_ms=fresh.exchange_ms if fresh else None,
            received_ms=fresh.received_ms if fresh else None,
            server_ms=now_ms(),
            rows=spec.select(read.boards[name], hub.feed_time_ms(read.boards[name])),
        )

    app.include_router(symbol_router(redis, lambda: hub.day, authorize))

    @app.websocket("/ws")
    async def websocket(ws: WebSocket, token: str | None = None) -> None:
        await WebSocketSession(ws, hub, settings).run(token)

    return app


def filter_params(query: Mapping[str, str]) -> dict[str, float | None]:
    """The filter bounds of a query string (every ``min_*``/``max_*`` parameter)."""
    out: dict[str, float | None] = {}
    for key, raw in query.items():
        if key.startswith(("min_", "max_")):
            try:
                out[key] = float(raw) if raw != "" else None
            except ValueError:
                raise FilterError(f"filter {key!r} must be a number, not {raw!r}") from None
    return out


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())


class WebSocketSession:
    """One client connection: auth, then read requests while a task drains its queue."""

    def __init__(self, ws: WebSocket, hub: Hub, settings: GatewaySettings) -> None:
        self.ws, self.hub, self.settings = ws, hub, settings
        self.client = Client(settings.gateway_client_queue_bytes)

    async def run(self, token: str | None) -> None:
        await self.ws.accept()
        if len(self.hub.clients) >= self.settings.gateway_max_clients:
            await self._refuse(
                "too_many_clients",
                "this gateway is full; retry later or use another replica",
                messages.CLOSE_TOO_MANY_CLIENTS,
            )
            return
        if not await self._authenticate(token):
            return
        self.hub.add_client(self.client)
        self.client.push(Outgoing(self._hello(), "control"))
        pump = asyncio.create_task(self.client.pump(self.ws.send_text))
        reader = asyncio.create_task(self._read())
        try:
            await asyncio.wait({pump, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, reader):
                task.cancel()
            for task in (pump, reader):
                with contextlib.suppress(
                    asyncio.CancelledError, WebSocketDisconnect, RuntimeError, OSError
                ):
                    await task
            self.hub.remove_client(self.client)

    async def _authenticate(self, token: str | None) -> bool:
        expected = self.settings.gateway_token
        if not expected:
            return True
        if token is None:  # the token may come as the first message instead of in the URL
            try:
                text = await asyncio.wait_for(
                    self._receive_text(), self.settings.gateway_auth_timeout_seconds
                )
                first = messages.parse(text) if text is not None else None
            except (TimeoutError, ProtocolError):
                first = None
            token = first.token if isinstance(first, messages.Auth) else None
        if token is not None and _same(token, expected):
            return True
        await self._refuse(
            "unauthorized",
            "a valid token is required (?token= or a first auth message)",
            messages.CLOSE_UNAUTHORIZED,
        )
        return False

    async def _refuse(self, code: str, message: str, close_code: int) -> None:
        metrics.CLIENT_ERRORS.labels(code).inc()
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await self.ws.send_text(messages.error(code, message))
            await self.ws.close(close_code, reason=code)

    def _hello(self) -> str:
        s = self.settings
        return messages.encode(
            {
                "type": "hello",
                "protocol": messages.PROTOCOL,
                "day": self.hub.day,
                "server_ms": now_ms(),
                "boards": [
                    {"name": b.name, "title": b.title, "metric": b.metric, "ascending": b.ascending}
                    for b in BOARDS
                ],
                "fields": list(FILTER_FIELDS),
                "limits": {
                    "max_limit": s.gateway_max_limit,
                    "max_subscriptions": s.gateway_max_subscriptions,
                    "max_message_bytes": s.gateway_max_message_bytes,
                    "filter_depth": s.gateway_filter_depth,
                    "max_tick_hz": s.gateway_max_tick_hz,
                },
                "stale_after_ms": int(s.gateway_stale_seconds * 1000),
                "heartbeat_ms": int(s.gateway_heartbeat_seconds * 1000),
            }
        )

    async def _receive_text(self) -> str | None:
        """The next message as text, or None when the client has gone."""
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text: str | None = message.get("text")
        if text is not None:
            return text
        return (message.get("bytes") or b"").decode("utf-8", errors="replace")

    async def _read(self) -> None:
        while True:
            text = await self._receive_text()
            if text is None:
                return
            try:
                if len(text) > self.settings.gateway_max_message_bytes:
                    raise ProtocolError(
                        "message_too_large",
                        f"messages are limited to {self.settings.gateway_max_message_bytes} bytes",
                    )
                self._handle(messages.parse(text))
            except ProtocolError as exc:
                metrics.CLIENT_ERRORS.labels(exc.code).inc()
                self.client.push(
                    Outgoing(messages.error(exc.code, exc.message, exc.sub_id), "control")
                )

    def _handle(self, message: messages.ClientMessage) -> None:
        client, hub = self.client, self.hub
        if isinstance(message, messages.Subscribe):
            spec = messages.spec_of(message, self.settings.gateway_max_limit)
            if (
                message.id not in client.subs
                and len(client.subs) >= self.settings.gateway_max_subscriptions
            ):
                raise ProtocolError(
                    "too_many_subscriptions",
                    f"at most {self.settings.gateway_max_subscriptions} subscriptions per client",
                    message.id,
                )
            hub.subscribe(client, message.id, spec)
        elif isinstance(message, messages.Unsubscribe):
            if not hub.unsubscribe(client, message.id):
                raise ProtocolError(
                    "unknown_subscription", f"no subscription {message.id!r}", message.id
                )
            client.push(
                Outgoing(messages.encode({"type": "unsubscribed", "id": message.id}), "control")
            )
        elif isinstance(message, messages.Resync):
            if message.id is not None and message.id not in client.subs:
                raise ProtocolError(
                    "unknown_subscription", f"no subscription {message.id!r}", message.id
                )
            hub.resync(client, message.id)
        elif isinstance(message, messages.Ping):
            client.push(
                Outgoing(
                    messages.encode({"type": "pong", "t": message.t, "server_ms": now_ms()}),
                    "control",
                )
            )
        elif isinstance(message, messages.Auth):
            pass  # already authenticated (or auth is off): harmless
