"""The bus (NATS JetStream) as the bridge and the dispatcher use it: one way to connect, one
dead-letter stream.

Both must outlive a NATS restart, so they reconnect forever and say so once: each kind of
connection error is logged once per outage (the next reconnect re-arms it), and the caller's
callbacks update its metrics and readiness.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable

import nats
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from stampede.logonce import LogOnce
from stampede.settings import NatsSettings, public_url
from stampede.subjects import DLQ_STREAM, dlq_stream_config

Callback = Callable[[], Awaitable[None]]


def servers(url: str) -> list[str]:
    """``NATS_URL`` as a server list: one URL, or a cluster's nodes comma-separated. nats-py
    tries them in turn and, once connected, learns the others from the cluster."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def connect(
    settings: NatsSettings,
    *,
    name: str,
    log: logging.Logger,
    on_disconnected: Callback,
    on_reconnected: Callback,
) -> NATS:
    log_error = LogOnce(log)

    async def reconnected() -> None:
        log_error.reset()
        await on_reconnected()

    async def error(exc: Exception) -> None:
        kind = type(exc).__name__
        log_error(
            kind, "nats error (%s): %s; retrying without further logs until reconnected", kind, exc
        )

    url = settings.nats_url
    password = settings.nats_password.get_secret_value()
    credentials = {"user": settings.nats_user, "password": password} if password else {}
    nc = await nats.connect(
        servers(url),
        name=name,
        **credentials,  # from a Secret; else any in the URL (the local stack's)
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        disconnected_cb=on_disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
    )
    log.info("connected to %s", ",".join(public_url(server) for server in servers(url)))
    return nc


async def ensure_dlq_stream(js: JetStreamContext, max_age: float, replicas: int = 1) -> bool:
    """Create the dead-letter stream if missing (the bridge and the dispatcher both try, whoever
    starts first wins); True when this call created it. An existing one keeps its limits but is
    brought to ``replicas`` (a single server grown into a cluster)."""
    try:
        info = await js.stream_info(DLQ_STREAM)
    except nats.js.errors.NotFoundError:
        with contextlib.suppress(nats.js.errors.BadRequestError):  # lost the race: fine
            await js.add_stream(dlq_stream_config(max_age, replicas))
            return True
        return False
    if (info.config.num_replicas or 1) != replicas:
        await js.update_stream(dataclasses.replace(info.config, num_replicas=replicas))
    return False
