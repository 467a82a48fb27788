"""The board catalogue shared by the functions (writers) and the gateway (reader).

Definitions follow ``shared/scanner-definitions.md``; ``docs/architecture.md`` says where the
project differs. A board is a Redis sorted set ranked by ``metric`` (higher first unless
``ascending``); the rows beside it hold the fields in ``ROW_FIELDS``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Board:
    name: str
    title: str
    metric: str  # the row field the score is
    function: str  # the function that writes it
    ascending: bool = False
    # members leave after a window of feed time without trades, so the board may be empty at
    # any moment of a quiet market (the others hold a symbol for the whole day once it is on)
    windowed: bool = False


BOARDS: tuple[Board, ...] = (
    Board("gainers", "Top gainers", "change_pct", "movers"),
    Board("losers", "Top losers", "change_pct", "movers", ascending=True),
    Board("gappers", "Gappers", "gap_pct", "movers"),
    Board("from_open", "% from open", "from_open_pct", "movers"),
    Board("volume", "Volume", "volume", "movers"),
    Board("rvol", "Relative volume (at time of day)", "rvol", "movers"),
    Board("momentum_1m", "Momentum 1 min", "change_1m_pct", "momentum", windowed=True),
    Board("momentum_5m", "Momentum 5 min", "change_5m_pct", "momentum", windowed=True),
    Board("tape_speed", "Tape speed (trades/s)", "trades_per_sec", "momentum", windowed=True),
    Board("dollar_volume_1m", "Dollar volume 1 min", "dollar_volume_1m", "momentum", windowed=True),
    Board("new_highs", "New high of day", "hod_time", "momentum"),
    Board("halts", "Halts / resumes", "halt_time", "halts"),
    # ranked by movers' and halts' row writes alike: see NEAR_LULD_PCT
    Board("near_luld", "Near LULD band", "luld_distance_pct", "halts", ascending=True),
    Board("news", "Latest news", "news_ms", "news"),
)
BOARDS_BY_NAME: dict[str, Board] = {b.name: b for b in BOARDS}

# near_luld: last within this % (of the last price) of the nearer LULD band, closest first. The
# last price comes from movers and the bands from halts; whichever writes second re-ranks the
# symbol from the row, so the board holds both halves as the row does.
NEAR_LULD = "near_luld"
NEAR_LULD_PCT = 1.0

# Row hash fields (all optional; absent means "not known yet").
ROW_FIELDS: tuple[str, ...] = (
    "sym",
    "last",
    "prev_close",
    "change_pct",
    "open",
    "gap_pct",
    "from_open_pct",
    "volume",
    "premarket_volume",  # av of the newest bar ending by 09:30 ET
    "rvol",
    "vwap",
    "high",
    "low",
    "premarket_high",
    "change_1m_pct",
    "change_5m_pct",
    "trades_per_sec",
    "dollar_volume_1m",
    "hod_time",
    "halted",
    "halt_time",  # the latest halt or resume (the halts board's score)
    "halt_start_ms",  # when the latest halt began
    "resume_ms",  # when it ended (absent while halted); duration = resume_ms - halt_start_ms
    "luld_upper",
    "luld_lower",
    "luld_distance_pct",  # min(upper - last, last - lower) / last x 100 (the near_luld score)
    "has_reference",
    "updated_ms",  # exchange time (Unix ms) of the newest event applied to the row
    # reference data (refdata), each with its as-of date; absent = Massive has no value
    "float_shares",  # free float, never shares outstanding
    "float_as_of",
    "shares_outstanding",
    "market_cap",
    "short_interest",
    "days_to_cover",
    "short_pct_float",  # short interest / free float x 100
    "short_interest_as_of",  # settlement date
    # news (the news function); headline, publisher and URL are untrusted third-party text
    "news_ms",  # publication time (Unix ms) of the latest article
    "news_count",  # today's articles
    "headline",
    "news_publisher",
    "news_url",
    "news_sentiment",  # positive | neutral | negative, from the article's insights
)
# Row fields that are text, not numbers (readers must not parse them as numbers).
TEXT_ROW_FIELDS = frozenset(
    {
        "sym",
        "float_as_of",
        "short_interest_as_of",
        "headline",
        "news_publisher",
        "news_url",
        "news_sentiment",
    }
)
