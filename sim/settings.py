"""The simulator's configuration (environment variables; the CLI flags override them).

Defaults aim at a faithful local stand-in for Massive: one connection per key, aggregates
about 2 s after their second, a bounded per-connection buffer that ends in ``slow_consumer``.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from stampede.settings import CommonSettings
from stampede.sim.load import LoadShape

LOCAL_API_KEY = "stampede-local-key"


class SimSettings(CommonSettings):
    massive_api_key: SecretStr = Field(
        SecretStr(LOCAL_API_KEY),
        description="Massive API key (secret). The simulator accepts only this key (WebSocket "
        "`auth`, REST `apiKey` / `Authorization: Bearer`; others get `auth_failed` / 401) and "
        f"defaults it to `{LOCAL_API_KEY}`.",
    )
    sim_host: str = Field(
        "127.0.0.1", description="Address the simulator listens on (WebSocket and REST share it)."
    )
    sim_port: int = Field(
        8900,
        ge=0,
        le=65535,
        description="Port of `ws://HOST:PORT/stocks` and the REST API (0 = any free port).",
    )
    sim_date: str | None = Field(
        None,
        description="Simulated trading day `YYYY-MM-DD` (default: the latest XNYS session on or before today, ET).",
    )
    sim_start: str = Field(
        "now",
        description="Simulated ET start time `HH:MM[:SS]`, or `now` for the current ET wall time.",
    )
    sim_speed: float = Field(
        1.0, gt=0, description="Simulated seconds per wall second (1 = real time)."
    )
    sim_seed: int = Field(
        1, description="Random seed: the same seed, date and start give the same market."
    )
    sim_symbols: int = Field(
        8200, ge=20, le=20000, description="Number of tickers in the simulated market."
    )
    sim_history_days: int = Field(
        30, ge=1, le=250, description="Past sessions of daily (and minute) bars served by REST."
    )
    sim_rate: int | None = Field(
        None,
        ge=1,
        description="Load mode: drive this many events per second (A and T mixed) instead of "
        "the realistic market.",
    )
    sim_shape: LoadShape = Field(
        LoadShape.UNIFORM,
        description="Load mode's spread over tickers: `uniform` (every visit a different ticker: "
        "the adversarial case) or `market` (the market model's heavy-tailed activity: most "
        "trades in a few hundred names, as on a real tape).",
    )
    sim_activity: float = Field(
        1.0,
        gt=0,
        le=10,
        description="Market mode: scale of every ticker's trading intensity (1 = a full day, "
        "~78M trades over 8,200 tickers; a smaller value lets a whole day run at high speed).",
    )
    sim_correction_rate: float = Field(
        0.002,
        ge=0,
        le=1,
        description="Market mode: share of per-second (A) bars sent again, 0.5 s later, corrected "
        "with a late trade (more volume, a new close); 0 = never. Load mode sends none.",
    )
    sim_hold_clock: bool = Field(
        False,
        description="Hold the simulated clock at the start until `/_sim/clock/start` is "
        "requested, so a high-speed run starts where it should however long the scanner "
        "behind it takes to come up.",
    )
    sim_agg_delay_ms: int = Field(
        2000,
        ge=0,
        description="How long after its window a per-second (A) or minute (AM) bar is sent.",
    )
    sim_tick_ms: int = Field(
        50,
        ge=5,
        le=1000,
        description="Wall milliseconds between sends (trades due are released in batches this often).",
    )
    sim_frame_events: int = Field(500, ge=1, description="Most events in one WebSocket frame.")
    sim_slow_consumer_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1024,
        description="Bytes queued for one connection beyond which it is cut off with `slow_consumer`.",
    )
    sim_auth_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a new connection has to authenticate before `auth_timeout`.",
    )
    sim_rest_rate_limit: float = Field(
        100.0,
        gt=0,
        description="REST requests per second allowed per key (token bucket, burst = 1 s); beyond: 429.",
    )
    sim_replay: str | None = Field(
        None,
        description="Replay this recorded feed file (JSON lines) instead of generating a market.",
    )
    sim_record: str | None = Field(
        None, description="Append every market frame sent to this file (JSON lines, replayable)."
    )
