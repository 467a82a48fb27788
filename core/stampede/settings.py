"""Configuration shared by every deployable; each deployable subclasses ``CommonSettings``.

All configuration comes from the environment (pydantic-settings). The README's configuration
table is generated from these classes by ``stampede config`` and checked by a test, so it
cannot drift from the code.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    log_level: str = Field("INFO", description="Log level (DEBUG, INFO, WARNING, ERROR).")
    log_format: Literal["json", "console"] = Field(
        "json", description="`json` for one structured object per line, `console` for people."
    )
    otel_service_name: str | None = Field(
        None, description="OpenTelemetry service name (defaults to the component's name)."
    )


class RedisSettings(CommonSettings):
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis holding the boards; with `REDIS_CLUSTER`, one or more of the "
        "cluster's nodes, comma-separated (the client learns the rest).",
    )
    redis_username: str = Field(
        "",
        description="Redis ACL user (with `REDIS_PASSWORD`; in the cluster both come from the "
        "`redis-auth` Secret). Credentials in `REDIS_URL` work too; these take precedence.",
    )
    redis_password: SecretStr = Field(
        SecretStr(""), description="Password of `REDIS_USERNAME` (never logged)."
    )
    redis_shards: int = Field(
        1,
        ge=1,
        description="Symbol shards of the board keys (each one Redis Cluster hash tag; functions "
        "apply, and the gateway reads, one script call per shard). 1 keeps every key in one slot.",
    )
    redis_cluster: bool = Field(
        False,
        description="`true` when `REDIS_URL` is a Redis Cluster: keys spread over its primaries "
        "by their symbol-shard hash tag (set `REDIS_SHARDS` well above the primary count, see "
        "docs/deploy.md).",
    )


class NatsSettings(CommonSettings):
    nats_url: str = Field(
        "nats://127.0.0.1:4222",
        description="NATS server(s) with JetStream: one URL, or several comma-separated (a "
        "cluster's nodes); the client fails over between them and learns the others from "
        "the cluster.",
    )
    nats_user: str = Field(
        "",
        description="NATS user (with `NATS_PASSWORD`; in the cluster both come from the "
        "`nats-auth` Secret). Credentials in `NATS_URL` work too; these take precedence.",
    )
    nats_password: SecretStr = Field(
        SecretStr(""), description="Password of `NATS_USER` (never logged)."
    )
    dlq_max_age: float = Field(
        7 * 24 * 3600.0,
        ge=1,
        description="Max age (s) of the dead-letter stream STAMPEDE_DLQ, created if missing by "
        "the bridge or the dispatcher, whichever starts first (was BRIDGE_/DISPATCH_DLQ_MAX_AGE).",
    )
    dlq_replicas: int = Field(
        1,
        ge=1,
        le=5,
        description="JetStream replicas of the dead-letter stream STAMPEDE_DLQ (file storage): 1 "
        "on a single server, 3 on a 3-node cluster so a node loss keeps every dead letter.",
    )


def public_url(url: str) -> str:
    """A URL safe to log or publish: user info, query string and fragment removed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
