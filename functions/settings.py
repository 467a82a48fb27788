"""Settings of a scoring function service (`stampede function NAME`), from the environment."""

from __future__ import annotations

from pydantic import Field, SecretStr

from stampede.settings import RedisSettings


class FunctionSettings(RedisSettings):
    port: int | None = Field(
        None, description="Port to listen on (Knative sets `PORT`); overrides `--port` when set."
    )
    function_max_event_age_seconds: float = Field(
        10.0,
        description="Drop market CloudEvents older than this at arrival (wall now - CloudEvent "
        "`time`): freshness over completeness. 0 disables the check.",
    )
    function_event_key: SecretStr = Field(
        SecretStr(""),
        description="When set, a market or news CloudEvent counts only with a valid `stampedesig` "
        "signature made with this secret (the bridge's BRIDGE_EVENT_KEY); others get 401 and "
        "never reach Redis. Empty: unsigned events are accepted (tests, curl).",
    )
    function_max_body_bytes: int = Field(
        8 * 1024 * 1024, description="Largest request body accepted; larger bodies get 413."
    )
    function_board_size: int = Field(
        200, description="Members kept per board (top K by score; bottom K for ascending boards)."
    )
    function_commit_max_events: int = Field(
        20000,
        ge=1,
        description="Most market events merged into one group commit (one script call per "
        "shard); more waiting CloudEvents go into the next call.",
    )
    function_late_seconds: float = Field(
        0.5,
        ge=0,
        description="A live function whose batch reaches the boards later than this after the "
        "bridge read it marks the live feed late for 2 s (`sp:live:late`); background loads "
        "(the fundamentals) pause meanwhile. 0 disables the signal.",
    )
    function_seen_ttl_seconds: int = Field(
        3600, description="How long an applied CloudEvent id is remembered (idempotency window)."
    )
    function_reference_cache_seconds: float = Field(
        30.0,
        description="In-process cache lifetime of a day's reference data read from Redis "
        "(a cache only: Redis is the source of truth).",
    )
    function_momentum_stale_seconds: int = Field(
        60,
        description="Momentum boards drop a symbol with no eligible trade for this many seconds "
        "of feed time, so a burst that ended does not hold the top forever.",
    )
    function_tape_seconds: int = Field(
        5,
        ge=1,
        le=60,
        description="Tape-speed window: trades per second averaged over this many seconds.",
    )
    massive_rest_url: str = Field(
        "https://api.massive.com", description="Massive REST API base URL (the simulator locally)."
    )
    massive_api_key: SecretStr = Field(
        SecretStr(""), description="Massive API key (sent as a Bearer token, never logged)."
    )
    refdata_sessions: int = Field(
        10, description="Sessions of history for average volume and the intraday volume profile."
    )
    refdata_profile_symbol: str = Field(
        "SPY",
        description="Liquid proxy whose minute bars give the intraday cumulative-volume profile.",
    )
    refdata_timeout_seconds: float = Field(
        30.0, description="Timeout of each Massive REST call made by the refdata function."
    )
    refdata_requests_per_second: float = Field(
        50.0,
        gt=0,
        description="Most Massive REST requests per second the refdata load makes (paid plans "
        "should stay under 100/s; a free plan allows 5 per minute).",
    )
    refdata_concurrency: int = Field(
        8, ge=1, description="Ticker overview requests in flight at once during the load."
    )
    refdata_attempts: int = Field(
        5,
        ge=1,
        description="Tries of one REST call on 429, 5xx, network errors or broken JSON "
        "(exponential backoff with jitter) before the load fails (and resumes on the next "
        "trigger).",
    )
    refdata_fundamentals: bool = Field(
        True,
        description="Also load float, shares outstanding, market cap and short interest into "
        "the rows (one overview call per ticker).",
    )
    refdata_cpu_share: float = Field(
        0.1,
        gt=0,
        le=1,
        description="Share of one core the background fundamentals load may use (it sleeps when "
        "ahead, counted in stampede_function_refdata_throttled_seconds_total), so a midday start "
        "never takes the live feed's CPU.",
    )
    refdata_short_interest_days: int = Field(
        62,
        ge=15,
        description="Settlement dates of short interest looked at (the latest one counts).",
    )
