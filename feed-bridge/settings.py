"""The bridge's configuration, all from the environment (see ``stampede config``).

Per-channel max ages are the heart of "freshness over completeness": a trade older than a
few seconds is worthless to a momentum board, while a halt (LULD) matters for minutes. The
same ages bound how long the bridge keeps a frame it could not publish (NATS outage) and
how long JetStream keeps what it did publish.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from stampede.market import Channel
from stampede.settings import NatsSettings, public_url


class BridgeSettings(NatsSettings):
    massive_api_key: SecretStr = Field(
        description="Massive API key (secret: never logged, never put in a URL). Required.",
    )
    massive_ws_url: str = Field(
        "wss://socket.massive.com/stocks",
        description="Massive stocks WebSocket (real time `socket.massive.com`, delayed "
        "`delayed.massive.com`; the simulator's `ws://HOST:PORT/stocks` locally).",
    )
    massive_subscriptions: str = Field(
        "A.*,AM.*,T.*,LULD.*",
        description="Comma-separated Massive subscriptions (`CHANNEL.TICKER`, `*` wildcard), "
        "re-sent after every reconnect.",
    )
    bridge_event_key: SecretStr = Field(
        SecretStr(""),
        description="Secret the bridge signs every CloudEvent with (extension `stampedesig`, "
        "HMAC-SHA256; binary mode only), so the functions accept only the pipeline's events; the "
        "functions get the same one as FUNCTION_EVENT_KEY. Empty: unsigned.",
    )
    bridge_content_mode: Literal["binary", "structured"] = Field(
        "binary",
        description="CloudEvents NATS content mode: `binary` (ce-* headers, data as payload) or "
        "`structured` (whole event as JSON; needed by Knative eventing-natss).",
    )
    bridge_broker_ttl: int | None = Field(
        None,
        ge=1,
        description="When set, stamp every CloudEvent with the Knative `knativebrokerttl` "
        "extension (e.g. 255). Needed when publishing straight into an eventing-natss Broker's "
        "channel, whose filter drops events the broker ingress did not stamp.",
    )
    bridge_shards: int = Field(
        1,
        ge=1,
        le=1024,
        description="Subjects per channel (`stampede.stocks.<CH>.<shard>`, shard = crc32(symbol) "
        "mod N); one CloudEvent per channel per shard per frame.",
    )
    bridge_queue_size: int = Field(
        5000,
        ge=1,
        description="Frames buffered between the socket reader and the publisher; when full the "
        "OLDEST frames are dropped (and counted), never the connection.",
    )
    bridge_max_inflight: int = Field(
        2000,
        ge=1,
        description="Un-acknowledged JetStream publishes allowed at once (async publish window).",
    )
    bridge_ack_timeout: float = Field(
        5.0,
        gt=0,
        description="Seconds to wait for a JetStream publish ack before counting it lost.",
    )
    bridge_max_age_a: float = Field(
        5.0,
        ge=0.1,
        description="Max age (s) of per-second aggregates (A): stream max_age and staleness limit.",
    )
    bridge_max_age_am: float = Field(
        120.0, ge=0.1, description="Max age (s) of minute aggregates (AM)."
    )
    bridge_max_age_t: float = Field(3.0, ge=0.1, description="Max age (s) of trades (T).")
    bridge_max_age_q: float = Field(2.0, ge=0.1, description="Max age (s) of quotes (Q).")
    bridge_max_age_luld: float = Field(
        3600.0, ge=0.1, description="Max age (s) of LULD bands and halts."
    )
    bridge_max_age_noi: float = Field(600.0, ge=0.1, description="Max age (s) of imbalances (NOI).")
    bridge_duplicate_window: float = Field(
        30.0,
        ge=0.1,
        description="Upper bound (s) of each stream's JetStream duplicate window (the window is "
        "min(this, the channel's max age)); a republished CloudEvent id is stored once.",
    )
    bridge_stream_max_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024 * 1024,
        description="Byte cap of each channel stream (memory storage, discard old).",
    )
    bridge_stream_replicas: int = Field(
        1,
        ge=1,
        le=5,
        description="JetStream replicas of each channel stream (memory storage): 1 on a single "
        "server; 3 on a 3-node cluster, so a node loss costs a leader election instead of the "
        "streams on that node (see docs/deploy.md).",
    )
    massive_rest_url: str = Field(
        "https://api.massive.com",
        description="Massive REST API, polled for news (the simulator's `http://HOST:PORT` "
        "locally).",
    )
    bridge_news: bool = Field(
        True, description="Poll Massive's news and publish each new article on STAMPEDE_NEWS."
    )
    bridge_news_poll_seconds: float = Field(
        1.0,
        gt=0,
        description="Seconds between news polls from 04:00 to 20:00 ET on trading days (and "
        "always when BRIDGE_MARKET_HOURS_ONLY is false).",
    )
    bridge_news_idle_poll_seconds: float = Field(
        60.0, gt=0, description="Seconds between news polls outside those hours."
    )
    bridge_news_overlap_seconds: float = Field(
        120.0,
        ge=0,
        description="Each poll re-asks this far back before the newest article seen (articles "
        "are sometimes indexed late); the ids seen in it are not published again.",
    )
    bridge_news_page_size: int = Field(
        1000, ge=1, le=1000, description="Articles asked per news page (`limit`, at most 1,000)."
    )
    bridge_news_history_batch: int = Field(
        100,
        ge=1,
        le=500,
        description="Articles per CloudEvent of the day's history, published in pages when the "
        "bridge starts (a NATS message stays well under its 1 MB limit).",
    )
    bridge_news_requests_per_second: float = Field(
        5.0, gt=0, description="Most news REST requests per second (pages and retries)."
    )
    bridge_news_timeout: float = Field(10.0, gt=0, description="Timeout of one news request (s).")
    bridge_news_max_age: float = Field(
        86400.0,
        ge=60,
        description="How long STAMPEDE_NEWS keeps an article (s); also its de-duplication window.",
    )
    bridge_market_hours_only: bool = Field(
        True,
        description="Hold the feed only from 04:00 ET pre-market to the end of after-hours on "
        "XNYS sessions (idle otherwise, so downstream scales to zero). `stampede up` sets false.",
    )
    bridge_ping_interval: float = Field(25.0, gt=0, description="Seconds between WebSocket pings.")
    bridge_ping_timeout: float = Field(
        30.0, gt=0, description="Seconds without a pong before the feed is declared dead."
    )
    bridge_handshake_timeout: float = Field(
        15.0, gt=0, description="Seconds allowed for connect + auth."
    )
    bridge_backoff_initial: float = Field(
        0.5, gt=0, description="First reconnect delay (s); doubles per failure, with jitter."
    )
    bridge_backoff_max: float = Field(
        30.0, gt=0, description="Longest ordinary reconnect delay (s)."
    )
    bridge_backoff_reset_after: float = Field(
        10.0,
        gt=0,
        description="A connection that stayed authenticated this long (s) resets the reconnect "
        "backoff; shorter ones keep doubling it, so a feed that accepts and drops at once is "
        "not hammered.",
    )
    bridge_evicted_backoff: float = Field(
        120.0,
        gt=0,
        description="Least wait (s) after `max_connections` (another connection with the key "
        "took the feed); doubles per eviction in a row, with jitter.",
    )
    bridge_evicted_backoff_max: float = Field(
        1800.0,
        gt=0,
        description="Longest wait (s) after evictions in a row (by a client that is not a "
        "bridge on our NATS, which we cannot hear).",
    )
    bridge_status_interval: float = Field(
        1.0,
        gt=0,
        description="Seconds between feed link reports on NATS `stampede.bridge.status` (also "
        "sent at once on every change); an evicted bridge stands by while another claims the feed.",
    )
    bridge_holder_timeout: float = Field(
        5.0,
        gt=0,
        description="Seconds without a claim from another bridge after which an evicted "
        "(standby) bridge takes the feed. Must exceed twice BRIDGE_STATUS_INTERVAL.",
    )
    bridge_shutdown_timeout: float = Field(
        5.0, gt=0, description="Seconds allowed on SIGTERM to flush pending publishes."
    )
    bridge_max_frame_bytes: int = Field(
        16 * 1024 * 1024, ge=65536, description="Largest WebSocket frame accepted from Massive."
    )

    @model_validator(mode="after")
    def _hear_before_taking_over(self) -> BridgeSettings:
        if self.bridge_holder_timeout <= 2 * self.bridge_status_interval:
            raise ValueError(
                "BRIDGE_HOLDER_TIMEOUT must exceed twice BRIDGE_STATUS_INTERVAL, or a standby "
                "bridge takes the feed between two reports of the holder"
            )
        return self

    def max_age(self, channel: Channel) -> float:
        return float(getattr(self, f"bridge_max_age_{channel.value.lower()}"))

    def subscriptions(self) -> list[str]:
        return [topic.strip() for topic in self.massive_subscriptions.split(",") if topic.strip()]

    @property
    def feed_source(self) -> str:
        """CloudEvent ``source``: the feed URL without credentials, query or fragment."""
        return public_url(self.massive_ws_url)
