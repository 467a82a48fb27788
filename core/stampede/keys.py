"""The Redis key schema: the store between the functions and the gateway.

Every market key is scoped by trading day (ET date, ``YYYY-MM-DD``) and expires a few days
later. A new day therefore starts on new, empty keys: there is no reset to run, and nothing
that could meet the 04:00 or 09:30 burst (the seed scanner's morning crash).

- ``sp:{day}:board:{board}``   sorted set, member = symbol, score = the board's metric
- ``sp:{day}:row:{SYM}``       hash of the row fields a dashboard shows (see ``ROW_FIELDS``)
- ``sp:{day}:seen:{ce_id}``    idempotency marker of an applied CloudEvent (SET NX EX)
- ``sp:{day}:once:{action}``   once-a-day latch across replicas (SET NX EX)
- ``sp:{day}:state:{name}``   a function's working state (clocks, window buckets), not for display
- ``sp:{day}:bars:{SYM}``      hash: the day's minute bars of a symbol, for the symbol view
- ``sp:{day}:halthist:{SYM}``  hash: the day's halts and resumes of a symbol
- ``sp:ref:{day}:{name}``      reference data loaded before the session (hashes by symbol)
- channel ``sp:changes``       pub/sub: a function applied a batch touching these boards
"""

from __future__ import annotations

PREFIX = "sp"
CHANGES_CHANNEL = f"{PREFIX}:changes"
DAY_TTL_SECONDS = 4 * 24 * 3600


def board(day: str, name: str) -> str:
    return f"{PREFIX}:{day}:board:{name}"


def row(day: str, symbol: str) -> str:
    return f"{PREFIX}:{day}:row:{symbol}"


def seen(day: str, event_id: str) -> str:
    return f"{PREFIX}:{day}:seen:{event_id}"


def once(day: str, action: str) -> str:
    return f"{PREFIX}:{day}:once:{action}"


def reference(day: str, name: str) -> str:
    return f"{PREFIX}:ref:{day}:{name}"


def state(day: str, name: str) -> str:
    """Day-scoped working state of a function (clocks, window buckets), not shown to users."""
    return f"{PREFIX}:{day}:state:{name}"


def bars(day: str, symbol: str) -> str:
    """Hash of the day's minute bars of a symbol: window start (Unix ms) -> bar (bars function)."""
    return f"{PREFIX}:{day}:bars:{symbol}"


def halt_history(day: str, symbol: str) -> str:
    """Hash of the day's halts and resumes of a symbol: ``{ms}:{seq}`` -> event (bars function)."""
    return f"{PREFIX}:{day}:halthist:{symbol}"
