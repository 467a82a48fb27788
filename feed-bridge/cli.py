"""``stampede bridge``: Massive WebSocket in, CloudEvents on NATS JetStream out.

Configuration comes from the environment (``stampede config`` lists it); the flags only place
the status server (/healthz, /readyz, /metrics). Exit codes: 0 after a clean stop (SIGTERM or
SIGINT), 1 on an unexpected failure, 2 for bad configuration, 3 when Massive rejects the API
key (fatal: a supervisor restarting the bridge will not fix a wrong key, so it says so instead
of retrying).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from fastapi import FastAPI

from stampede import service
from stampede.bridge.bridge import Bridge
from stampede.bridge.connection import AuthRejected
from stampede.bridge.settings import BridgeSettings
from stampede.telemetry import setup_logging, setup_tracing

EXIT_AUTH = 3  # beside service.EXIT_OK, EXIT_FAILURE and EXIT_CONFIG


def status_app(bridge: Bridge) -> FastAPI:
    app = FastAPI(title="stampede feed bridge", docs_url=None, redoc_url=None, openapi_url=None)
    service.add_service_routes(app, bridge.readiness, bridge.metrics.registry)
    return app


async def serve(settings: BridgeSettings, host: str, port: int) -> int:
    log = logging.getLogger(__name__)
    bridge = Bridge(settings, tracer=setup_tracing(settings, "bridge"))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, bridge.stop)
    server, server_task = await service.serve_in_background(status_app(bridge), host, port)
    try:
        await bridge.run()
        return service.EXIT_OK
    except AuthRejected as exc:
        log.critical("%s", exc)
        return EXIT_AUTH
    except Exception:  # e.g. JetStream refusing a stream config: say what, then exit
        log.exception("feed bridge failed")
        return service.EXIT_FAILURE
    finally:
        server.should_exit = True
        await server_task


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="stampede bridge",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="0.0.0.0", help="status server address (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8080, help="status server port (default 8080)")
    args = parser.parse_args(argv)
    settings = service.load_settings(BridgeSettings, "stampede bridge")
    setup_logging(settings, "bridge")
    return service.run_worker(serve(settings, args.host, args.port))
