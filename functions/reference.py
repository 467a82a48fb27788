"""Reference data the scoring functions rank against, as stored by the ``refdata`` function.

Layout in Redis (all under ``stampede.keys.reference(day, name)``, expiring with the day):

- ``prev_close``  hash symbol -> previous regular-session close
- ``adv``         hash symbol -> average daily volume over the last N sessions
- ``profile``     hash minute-of-day (ET, 0..1439) -> average fraction of a day's volume done
                  by the end of that minute (the intraday cumulative-volume profile)
- ``meta``        hash: ``loaded_ms``, ``sessions``, ``symbols``, ``profile_symbol``

Scoring never calls REST: it reads these hashes through :class:`ReferenceCache`, a short-lived
per-day in-process cache. The cache only saves reads; Redis stays the source of truth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from stampede import keys
from stampede.redisclient import RedisClient

MINUTES_PER_DAY = 1440
NAMES = ("prev_close", "adv", "profile", "meta")


@dataclass(frozen=True, slots=True)
class Reference:
    """One trading day's reference data (empty when not loaded)."""

    prev_close: dict[str, float] = field(default_factory=dict)
    adv: dict[str, float] = field(default_factory=dict)
    profile: tuple[float, ...] = ()  # cumulative fraction by minute of day; () = unknown

    def profile_at(self, seconds_of_day: float) -> float:
        """Fraction of a normal day's volume done by this time of day (linear within a minute)."""
        if not self.profile:
            return 0.0
        minute, within = divmod(seconds_of_day / 60.0, 1.0)
        i = int(minute)
        if i >= MINUTES_PER_DAY - 1:
            return self.profile[-1]
        before = self.profile[i - 1] if i > 0 else 0.0
        return before + (self.profile[i] - before) * within

    def expected_volume(self, sym: str, seconds_of_day: float) -> float:
        """Average cumulative volume of ``sym`` by this time of day: ADV x profile(time).

        The approximation: every symbol shares the proxy's intraday shape (see docs).
        """
        return self.adv.get(sym, 0.0) * self.profile_at(seconds_of_day)


EMPTY = Reference()


def decode(raw: dict[str, dict[bytes, bytes]]) -> Reference:
    """Build a :class:`Reference` from the HGETALL answers of the reference hashes."""
    if not raw.get("meta"):
        return EMPTY
    profile = [0.0] * MINUTES_PER_DAY
    last = 0.0
    points = {int(k): float(v) for k, v in raw.get("profile", {}).items()}
    for minute in range(MINUTES_PER_DAY):  # carry the last known value forward
        last = points.get(minute, last)
        profile[minute] = last
    return Reference(
        prev_close={k.decode(): float(v) for k, v in raw.get("prev_close", {}).items()},
        adv={k.decode(): float(v) for k, v in raw.get("adv", {}).items()},
        profile=tuple(profile) if points else (),
    )


class ReferenceCache:
    """Per-day cache of reference data read from Redis, refreshed after ``ttl`` seconds.

    A day with no reference data yet is re-read sooner (``missing_ttl``) so a load that lands
    mid-session is picked up within seconds.
    """

    def __init__(self, redis: RedisClient, ttl: float, missing_ttl: float = 2.0) -> None:
        self._redis = redis
        self._ttl = ttl
        self._missing_ttl = min(ttl, missing_ttl)
        self._entries: dict[str, tuple[float, Reference]] = {}

    async def get(self, day: str) -> Reference:
        now = time.monotonic()
        entry = self._entries.get(day)
        if entry is not None and now < entry[0]:
            return entry[1]
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in NAMES:
                pipe.hgetall(keys.reference(day, name))
            answers = await pipe.execute()
        reference = decode(dict(zip(NAMES, answers)))
        ttl = self._ttl if reference is not EMPTY else self._missing_ttl
        if len(self._entries) > 4:  # only today (and maybe yesterday) matter
            self._entries.clear()
        self._entries[day] = (now + ttl, reference)
        return reference
