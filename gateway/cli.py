"""``stampede gateway``: serve the dashboard, REST and WebSocket diffs of the boards."""

from __future__ import annotations

import argparse
import logging

from stampede.gateway.headers import MAX_HEADER_BYTES, PromptClose, head_timeout_protocol
from stampede.gateway.settings import GatewaySettings
from stampede.service import ServerOptions, load_settings, run
from stampede.telemetry import setup_logging, setup_tracing


def server_options(settings: GatewaySettings) -> ServerOptions:
    """uvicorn WebSocket options (the tests and the bench serve with the same ones)."""
    return {
        # A hard cap far above the protocol limit; the soft limit answers with an error frame.
        "ws_max_size": settings.gateway_max_message_bytes * 16,
        # Compression would cost CPU per client per message; diffs are shared, small bytes.
        "ws_per_message_deflate": False,
        # Protocol pings find dead peers (and keep idle proxies from closing the socket), and
        # clients that stopped reading: a browser answers a ping whatever its page is doing; a
        # client that does not answer within 4 s of one, sent every 4 s, is closed, so a
        # never-reading client is gone within ~8 s even while the kernel's buffers still take
        # its diffs (issue 25's bound: 10 s; 20 s + 20 s before).
        "ws_ping_interval": 4.0,
        "ws_ping_timeout": 4.0,
        # The port is public: request heads are read by h11, which stops reading a partial head
        # past 16 KB, where httptools read a 64 MB header in full (issue 25); a head that came
        # whole is answered 431 by headers.HeadLimit; one that takes longer than
        # GATEWAY_HEADER_TIMEOUT_SECONDS to arrive closes the connection.
        "http": head_timeout_protocol(settings.gateway_header_timeout_seconds),
        # A client cut off (too slow, over its rate) that ignores the close frame loses its
        # socket 2 s later, not uvicorn's 10 s.
        "ws": PromptClose,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        # X-Forwarded-For is believed only from GATEWAY_TRUSTED_PROXIES (gateway/admission.py);
        # uvicorn's own rewrite would believe any local client's header.
        "proxy_headers": False,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="stampede gateway",
        description="Serve live scanner boards: dashboard at /, REST at /api, WebSocket diffs at "
        "/ws, /healthz, /readyz, /metrics. Settings come from the environment (REDIS_URL, "
        "GATEWAY_*; see `stampede config`).",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument(
        "--status-port",
        type=int,
        default=None,
        help="serve /healthz, /readyz and /metrics on this port instead (on --host); the public "
        "port then has no /metrics",
    )
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="bind the port with SO_REUSEPORT: several gateway processes serve one port and the "
        "kernel spreads connections over them (give each its own --status-port)",
    )
    args = parser.parse_args(argv)

    settings = load_settings(GatewaySettings, "stampede gateway")
    log = setup_logging(settings, "gateway")
    # uvicorn logs every WebSocket's open, accept and close at INFO: three lines a connection,
    # a log flood and a tenth of the gateway's CPU in a connection storm (the hostile bench)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    setup_tracing(settings, "gateway")
    from stampede.gateway.app import create_app  # after logging is configured

    log.info(
        "gateway listening on %s:%d%s%s (redis %s, auth %s)",
        args.host,
        args.port,
        " shared (SO_REUSEPORT)" if args.reuse_port else "",
        f", status on :{args.status_port}" if args.status_port else "",
        settings.redis_url.split("@")[-1],
        "required" if settings.gateway_token else "OFF (GATEWAY_AUTH=off: keep it private)",
    )
    status = (args.host, args.status_port) if args.status_port else None
    app = create_app(settings, status)
    run(app, args.host, args.port, reuse_port=args.reuse_port, **server_options(settings))
    return 0
