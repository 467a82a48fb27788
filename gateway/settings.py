"""Configuration of the gateway (environment variables, documented by ``stampede config``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from stampede.settings import RedisSettings


class GatewaySettings(RedisSettings):
    gateway_auth: Literal["required", "off"] = Field(
        "required",
        description="`required` (the default: closed): the gateway will not start without "
        "`GATEWAY_TOKEN`. `off` serves everyone without a token: for `stampede up`, which "
        "binds 127.0.0.1, and tests.",
    )
    gateway_token: str | None = Field(
        None,
        description="Shared token required by REST (`Authorization: Bearer`) and WebSocket "
        "(`?token=` or a first `auth` message); needed unless `GATEWAY_AUTH=off`.",
    )
    gateway_allowed_origins: str = Field(
        "",
        description="Comma-separated origins (`https://scanner.example.com`) whose pages may "
        "open the WebSocket besides the gateway's own (a browser sends `Origin`; a page of "
        "another site is refused with 403 before the handshake); `*` allows any.",
    )
    gateway_redis_read_url: str | None = Field(
        None,
        description="Redis the gateway reads boards and change notifications from: a replica of "
        "`REDIS_URL` (`replicaof`), so board reads never queue behind the functions' scripts; "
        "unset = `REDIS_URL`.",
    )
    gateway_replica_max_lag_seconds: float = Field(
        2.0,
        gt=0,
        description="With `GATEWAY_REDIS_READ_URL`: a replica further behind its primary than "
        "this (or resyncing, cut off, not answering) is not read; the gateway reads `REDIS_URL` "
        "until the replica has kept up for 5 s, and says so in /readyz, its metrics and the page.",
    )
    gateway_max_tick_hz: float = Field(
        10.0,
        gt=0,
        le=100,
        description="Most board reads + diff rounds per second; change notifications in between "
        "are coalesced into the next tick.",
    )
    gateway_refresh_seconds: float = Field(
        5.0,
        gt=0,
        description="Safety refresh: re-read every watched board this often even without "
        "notifications (covers a missed pub/sub message).",
    )
    gateway_max_limit: int = Field(
        100,
        ge=1,
        le=1000,
        description="Largest `limit` (rows) a subscription or REST call may ask for.",
    )
    gateway_filter_depth: int = Field(
        200,
        ge=1,
        le=5000,
        description="How deep into a board filtered subscriptions look (filters keep the first "
        "`limit` matching rows of the board's top N).",
    )
    gateway_max_clients: int = Field(
        1000,
        ge=1,
        description="WebSocket connections one gateway holds, counted from the handshake "
        "(before authentication) to the close; more are refused (code `too_many_clients`).",
    )
    gateway_max_clients_per_address: int = Field(
        50,
        ge=1,
        description="WebSocket connections one client address may hold at once (counted from the "
        "handshake, before authentication); more are refused (code `too_many_clients`).",
    )
    gateway_trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or networks of the proxies in front (the Ingress "
        "controller's pods, e.g. `10.0.0.0/8`): only from them is `X-Forwarded-For` believed for "
        "the per-address limit. Empty: the peer's own address counts.",
    )
    gateway_max_subscriptions: int = Field(
        32, ge=1, description="Subscriptions one WebSocket client may hold at once."
    )
    gateway_max_message_bytes: int = Field(
        4096,
        ge=256,
        description="Largest message a client may send (bigger ones get a "
        "`message_too_large` error).",
    )
    gateway_client_queue_bytes: int = Field(
        1 << 20,
        ge=1024,
        description="Bytes queued per client; a client that falls this far behind has its "
        "backlog replaced by fresh snapshots, and one whose queue still grows past twice this "
        "(it does not read) is disconnected (close 1008 `too_slow`): memory per client stays "
        "bounded whatever it sends.",
    )
    gateway_client_messages_per_second: float = Field(
        20.0,
        gt=0,
        description="Sustained message rate a client may send (a token bucket: a `subscribe` "
        "costs 2 tokens, a `resync` 5, other messages 1); over it a message gets a "
        "`rate_limited` error and is not served.",
    )
    gateway_client_message_burst: int = Field(
        200,
        ge=20,
        description="The bucket's size: the burst a client may send at once. A client that "
        "keeps sending while refused, a second burst's worth, is disconnected (close 1008 "
        "`rate_limited`).",
    )
    gateway_heartbeat_seconds: float = Field(
        1.0, gt=0, description="How often clients get a heartbeat with feed freshness."
    )
    gateway_stale_seconds: float = Field(
        10.0,
        gt=0,
        description="Feed age (wall clock since the bridge read the newest applied frame) after "
        "which the dashboard marks boards stale.",
    )
    gateway_bridge_url: str | None = Field(
        None,
        description="The feed bridge's status server (e.g. `http://feed-bridge`); when set, "
        "every heartbeat carries its feed link (state, last fault, faults by kind) for the "
        "dashboard.",
    )
    gateway_header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=60,
        description="How long a connection has to send a whole HTTP request head (after connecting "
        "or after its last response) before it is closed: slow-header clients cannot hold "
        "connections (nginx's client_header_timeout).",
    )
    gateway_auth_timeout_seconds: float = Field(
        5.0, gt=0, description="How long a WebSocket client has to send its `auth` message."
    )

    @model_validator(mode="after")
    def _closed_by_default(self) -> GatewaySettings:
        if self.gateway_auth == "required" and not self.gateway_token:
            raise ValueError(
                "GATEWAY_TOKEN is not set and GATEWAY_AUTH=required (the default): a gateway on "
                "a public address must not run open; set the token (docs/deploy.md), or "
                "GATEWAY_AUTH=off for a local, private gateway"
            )
        if self.gateway_auth == "off":
            self.gateway_token = None  # off means off: no token half-applied
        return self

    @property
    def read_url(self) -> str:
        return self.gateway_redis_read_url or self.redis_url
