"""What every Stampede service has: ``/healthz``, ``/readyz``, ``/metrics`` and a clean stop.

``/healthz`` answers while the process is alive (liveness); ``/readyz`` answers 200 only when
the service can do its work right now, e.g. its Redis or its feed is reachable (readiness).
uvicorn turns SIGTERM/SIGINT into a graceful shutdown: it stops accepting, finishes in-flight
requests, then runs the app's lifespan shutdown.

Every deployable is built the same way: ``load_settings`` (bad configuration is one clear line
on stderr and exit 2, never a traceback), then ``run`` for an HTTP service or ``run_worker`` for a
long-lived worker with a status server (bridge, dispatch, simulator), both on uvloop.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal, Protocol, TypedDict, TypeVar, Unpack

import pydantic
import uvicorn
import uvloop
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.types import ASGIApp

ReadinessCheck = Callable[[], Awaitable[tuple[bool, str]]]
T = TypeVar("T")

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def describe(exc: pydantic.ValidationError) -> str:
    """``VAR: problem; VAR: problem`` in the environment's own variable names."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())


def load_settings(factory: Callable[[], T], command: str) -> T:
    """A deployable's settings; on a bad value print one line and exit 2 (bad configuration)."""
    try:
        return factory()
    except pydantic.ValidationError as exc:
        print(f"{command}: bad configuration: {describe(exc)}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def run_worker(main: Coroutine[Any, Any, T]) -> T:
    """Run a long-lived worker's main coroutine on uvloop (cheaper socket I/O than asyncio's)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


class ServerOptions(TypedDict, total=False):
    """The uvicorn options a service may tune (the gateway's WebSocket limits); the rest are
    fixed here so every service serves alike."""

    ws_max_size: int
    ws_per_message_deflate: bool
    ws_ping_interval: float
    ws_ping_timeout: float
    http: Literal["h11", "httptools", "auto"] | type[asyncio.Protocol]
    ws: Literal["auto", "websockets", "websockets-sansio", "wsproto"] | type[asyncio.Protocol]
    h11_max_incomplete_event_size: int
    proxy_headers: bool


def add_service_routes(
    app: FastAPI, ready: ReadinessCheck, registry: CollectorRegistry | None = REGISTRY
) -> None:
    """Mount liveness, readiness and Prometheus metrics on an app (``registry=None``: no
    ``/metrics``, for a public port whose metrics are served on a private one)."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        ok, detail = await ready()
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "detail": detail},
            status_code=200 if ok else 503,
        )

    if registry is None:
        return

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def uvicorn_config(
    app: ASGIApp, host: str, port: int, **kwargs: Unpack[ServerOptions]
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # keep our structured logging
        access_log=False,
        timeout_graceful_shutdown=10,
        **kwargs,
    )


def _exit_cleanly(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def run(
    app: ASGIApp,
    host: str,
    port: int,
    reuse_port: bool = False,
    **kwargs: Unpack[ServerOptions],
) -> None:
    """Serve an ASGI app until SIGTERM/SIGINT, then shut down gracefully and exit 0.

    uvicorn catches the signal, drains, and then re-raises it to the handler that was in place
    before it started; that handler makes the drained process exit 0 instead of dying by the
    signal (exit 143), so supervisors see a clean stop. ``reuse_port``: the socket is bound
    with SO_REUSEPORT, so several processes serve one port and the kernel spreads new
    connections over them.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    server = uvicorn.Server(uvicorn_config(app, host, port, **kwargs))
    server.run(sockets=[shared_socket(host, port)] if reuse_port else None)


def shared_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket that other processes may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


async def serve_in_background(
    app: ASGIApp, host: str, port: int
) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Run a status server inside an existing event loop (for workers like the bridge).

    The caller owns signal handling; stop it with ``server.should_exit = True``.
    """
    server = uvicorn.Server(uvicorn_config(app, host, port))
    task = asyncio.create_task(server._serve())  # _serve: without uvicorn's signal capture
    return server, task


class Worker(Protocol):
    """A long-lived worker (bridge, dispatch): runs until stopped, says whether it is ready."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...

    async def readiness(self) -> tuple[bool, str]: ...


def worker_arguments(prog: str, description: str | None) -> argparse.ArgumentParser:
    """A worker's command line: its status server's --host and --port."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="0.0.0.0", help="status server address (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8080, help="status server port (default 8080)")
    return parser


async def serve_worker(
    worker: Worker,
    title: str,
    registry: CollectorRegistry,
    host: str,
    port: int,
    routes: APIRouter | None = None,
) -> None:
    """Run ``worker`` beside its status server (/healthz, /readyz, /metrics, plus ``routes``)
    until it returns; SIGTERM and SIGINT ask it to stop, so in-flight work is drained rather
    than cut."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    add_service_routes(app, worker.readiness, registry)
    if routes is not None:
        app.include_router(routes)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    server, server_task = await serve_in_background(app, host, port)
    try:
        await worker.run()
    finally:
        server.should_exit = True
        await server_task
