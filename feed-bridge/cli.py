"""``stampede bridge``: Massive WebSocket in, CloudEvents on NATS JetStream out.

Configuration comes from the environment (``stampede config`` lists it); the flags only place
the status server (/healthz, /readyz, /metrics, /status). Exit codes: 0 after a clean stop
(SIGTERM or SIGINT), 1 on an unexpected failure, 2 for bad configuration, 3 when Massive
rejects the API key (fatal: a supervisor restarting the bridge will not fix a wrong key, so it
says so instead of retrying).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter

from stampede import service
from stampede.bridge.bridge import Bridge
from stampede.bridge.connection import AuthRejected
from stampede.bridge.settings import BridgeSettings
from stampede.telemetry import setup_logging, setup_tracing

EXIT_AUTH = 3  # beside service.EXIT_OK, EXIT_FAILURE and EXIT_CONFIG


def status_routes(bridge: Bridge) -> APIRouter:
    routes = APIRouter()

    @routes.get("/status", include_in_schema=False)
    async def status() -> dict[str, object]:
        """The feed link (state, last fault, faults by kind), for the gateway's dashboard."""
        return bridge.link.to_wire()

    return routes


async def serve(settings: BridgeSettings, host: str, port: int) -> int:
    log = logging.getLogger(__name__)
    bridge = Bridge(settings, tracer=setup_tracing(settings, "bridge"))
    try:
        await service.serve_worker(
            bridge,
            "stampede feed bridge",
            bridge.metrics.registry,
            host,
            port,
            routes=status_routes(bridge),
        )
        return service.EXIT_OK
    except AuthRejected as exc:
        log.critical("%s", exc)
        return EXIT_AUTH
    except Exception:  # e.g. JetStream refusing a stream config: say what, then exit
        log.exception("feed bridge failed")
        return service.EXIT_FAILURE


def main(argv: list[str]) -> int:
    parser = service.worker_arguments("stampede bridge", __doc__)
    args = parser.parse_args(argv)
    settings = service.load_settings(BridgeSettings, "stampede bridge")
    setup_logging(settings, "bridge")
    return service.run_worker(serve(settings, args.host, args.port))
