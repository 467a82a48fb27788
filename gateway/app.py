"""The gateway's HTTP face: dashboard, REST, WebSocket, health and metrics (FastAPI)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from stampede import redisclient
from stampede.boards import BOARDS, BOARDS_BY_NAME
from stampede.gateway import messages, metrics
from stampede.gateway.headers import MAX_HEADER_BYTES, HeadLimit, SecurityHeaders
from stampede.gateway.hub import Hub
from stampede.gateway.news import news_router
from stampede.gateway.notices import now_ms
from stampede.gateway.scans import FilterError, Filters, Spec
from stampede.gateway.session import WebSocketSession, same_token
from stampede.gateway.settings import GatewaySettings
from stampede.gateway.symbols import symbol_router
from stampede.gateway.ticker import READ_ERRORS
from stampede.service import add_service_routes, serve_in_background

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


def create_app(
    settings: GatewaySettings | None = None, status: tuple[str, int] | None = None
) -> FastAPI:
    """The gateway app. ``status`` = (host, port) of a private status server for ``/healthz``,
    ``/readyz`` and ``/metrics``: the public port then serves no ``/metrics``, and several
    gateway processes sharing one public port (SO_REUSEPORT) each report their own."""
    settings = settings or GatewaySettings()
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "health_check_interval": 15,
    }
    redis = redisclient.connect(settings, settings.read_url, **options)
    # a read replica is watched, and the primary read while the replica is unusable
    watched = bool(settings.gateway_redis_read_url) and not settings.redis_cluster
    primary = redisclient.connect(settings, **options) if watched else None
    hub = Hub(settings, redis, primary)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        private = await serve_in_background(status_app(), *status) if status else None
        try:
            yield
        finally:
            if private:
                private[0].should_exit = True
                await private[1]
            await hub.stop()
            await redis.aclose()
            if primary is not None:
                await primary.aclose()

    def status_app() -> FastAPI:
        private = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        add_service_routes(private, ready, registry=metrics.REGISTRY)
        return private

    app = FastAPI(
        title="Stampede gateway",
        version=messages.PROTOCOL,
        description="Live scanner boards: REST snapshots, WebSocket diffs (protocol "
        f"`{messages.PROTOCOL}`, see docs/gateway.md and schemas/gateway-ws.v1.json) and the dashboard.",
        lifespan=lifespan,
        # Swagger's page loads its scripts from a CDN: not on a public port under our policy.
        # The description itself stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadLimit, limit=MAX_HEADER_BYTES)
    app.state.hub = hub
    app.state.settings = settings

    def authorize(request: Request) -> None:
        if not settings.gateway_token:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not same_token(token, settings.gateway_token):
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
            await asyncio.wait_for(hub.read_client.ping(), 2.0)
        except (TimeoutError, RedisError, OSError) as exc:
            return False, f"redis unreachable: {exc}"
        reads = f", {hub.source.describe()}" if hub.source is not None else ""
        if hub.source is not None and not hub.source.serving:
            return False, "the boards cannot move" + reads
        if not hub.listening:
            return False, "not subscribed to change notifications yet" + reads
        return True, f"day {hub.day}, {len(hub.clients)} clients{reads}"

    add_service_routes(app, ready, registry=None if status else metrics.REGISTRY)

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
            read = await hub.reader.read(hub.day, {name: spec.depth(settings.gateway_filter_depth)})
        except READ_ERRORS as exc:
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

    app.include_router(symbol_router(lambda: hub.read_client, lambda: hub.day, authorize))
    app.include_router(news_router(lambda: hub.read_client, lambda: hub.day, authorize))

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
