"""What the day scenario concludes from its samples: pure functions, no I/O.

Inputs are plain numbers sampled once a wall second (the simulated time of each sample, memory,
key counts, stream bytes, gateway state) and key censuses taken from Redis; outputs are the
report's figures: growth per simulated hour by session, keys by day and kind with their TTLs,
when the gateway's boards switched day and how (storm, empty boards), and the quiet night.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from stampede import markettime
from stampede.boards import BOARDS
from stampede.tools.bench.verdict import Doc, slope

HOUR_MS = 3_600_000
WINDOWED = frozenset(b.name for b in BOARDS if b.windowed)
SETTLE_S = 2.0  # wall seconds a gateway tick may lag Redis before an empty board counts
STORM_WINDOW_S = 10.0  # wall seconds after the switch in which a reset storm would show
STORM_SNAPSHOTS_PER_SUBSCRIPTION = 2.0  # one fresh snapshot per subscription is a day switch
# Counters: not "grown" but totalled over the run.
COUNTERS = frozenset(
    {
        "redis_commands",
        "gateway_snapshots",
        "sim_events",
        "events_applied",
        "stale_shed",
        "expired_cloudevents",
        "bridge_stale_events",
    }
)


@dataclass
class DaySample:
    """One wall second of the day scenario."""

    wall_s: float  # monotonic
    sim_ms: int  # the simulated clock before the counters were read
    values: dict[str, float] = field(default_factory=dict)  # series name -> value
    board_day: str | None = None  # the day the gateway serves (REST)
    board_rows: dict[str, int] = field(default_factory=dict)  # rows the gateway serves per board
    # ZCARD of the simulated day's board where the gateway reads it, the smaller of right
    # before and right after the gateway's answer
    board_members: dict[str, int] = field(default_factory=dict)
    # The clock once the counters were read: at 900x the scrape alone can take simulated
    # minutes, so the values lie somewhere between ``sim_ms`` and this.
    sim_end_ms: int | None = None

    @property
    def measured_until_ms(self) -> int:
        return self.sim_ms if self.sim_end_ms is None else self.sim_end_ms


def et(sim_ms: float | None) -> str | None:
    if sim_ms is None:
        return None
    return datetime.fromtimestamp(sim_ms / 1000, markettime.ET).isoformat(timespec="seconds")


def session(sim_ms: int) -> str:
    """The simulated ET session of an instant (``closed`` = the night)."""
    return markettime.session_of(sim_ms).value


def growth_per_sim_hour(samples: Sequence[DaySample]) -> dict[str, dict[str, Doc]]:
    """Per series and session (and ``all``): first, last and max value, and the least-squares
    slope per simulated hour; series absent from a sample are skipped there."""
    phases: dict[str, list[DaySample]] = {"all": list(samples)}
    for s in samples:
        phases.setdefault(session(s.sim_ms), []).append(s)
    out: dict[str, dict[str, Doc]] = {}
    for name in sorted({k for s in samples for k in s.values} - COUNTERS):
        for phase, group in phases.items():
            points = [(s.sim_ms / HOUR_MS, s.values[name]) for s in group if name in s.values]
            if len(points) < 2:
                continue
            out.setdefault(name, {})[phase] = {
                "first": points[0][1],
                "last": points[-1][1],
                "max": max(v for _, v in points),
                "per_sim_hour": round(slope(points), 3),
                "sim_hours": round(points[-1][0] - points[0][0], 2),
            }
    return out


def key_census(keys: Iterable[tuple[str, int]]) -> dict[str, dict[str, Doc]]:
    """Keys ``sp:{day}:[{shard}:]{kind}:...`` and ``sp:ref:{ref}:{day}:...`` with their TTL in seconds
    (-1 = none), by day and kind: how many, the shortest and longest TTL, how many never expire."""
    out: dict[str, dict[str, Doc]] = {}
    for key, ttl in keys:
        parts = [p for p in key.split(":") if not p.startswith("{")]  # drop shard hash tags
        if len(parts) >= 3 and parts[1] == "ref":
            day, kind = parts[2], "ref"
        elif len(parts) >= 3:
            day, kind = parts[1], parts[2]
        else:
            day, kind = "-", key
        entry = out.setdefault(day, {}).setdefault(
            kind, {"keys": 0, "ttl_min_s": None, "ttl_max_s": None, "no_ttl": 0}
        )
        entry["keys"] += 1
        if ttl < 0:
            entry["no_ttl"] += 1
            continue
        entry["ttl_min_s"] = ttl if entry["ttl_min_s"] is None else min(entry["ttl_min_s"], ttl)
        entry["ttl_max_s"] = ttl if entry["ttl_max_s"] is None else max(entry["ttl_max_s"], ttl)
    return out


def never_expiring(census: dict[str, dict[str, Doc]], day: str) -> int:
    """Keys of ``day`` without a TTL (each one outlives the day for ever)."""
    return sum(entry["no_ttl"] for entry in census.get(day, {}).values())


def sim_to_wall(samples: Sequence[DaySample], sim_ms: float) -> float | None:
    """The wall instant the simulated clock read ``sim_ms`` (linear between samples)."""
    for a, b in zip(samples, samples[1:]):
        if a.sim_ms <= sim_ms <= b.sim_ms and b.sim_ms > a.sim_ms:
            return a.wall_s + (b.wall_s - a.wall_s) * (sim_ms - a.sim_ms) / (b.sim_ms - a.sim_ms)
    return None


def wall_to_sim(samples: Sequence[DaySample], wall_s: float) -> float | None:
    """The simulated time at a wall instant (linear between samples)."""
    for a, b in zip(samples, samples[1:]):
        if a.wall_s <= wall_s <= b.wall_s and b.wall_s > a.wall_s:
            return a.sim_ms + (b.sim_ms - a.sim_ms) * (wall_s - a.wall_s) / (b.wall_s - a.wall_s)
    return None


def day_switch(
    samples: Sequence[DaySample],
    new_day: str,
    first_event_ms: int,
    client_days: Sequence[tuple[float, str]],
    subscriptions: int,
) -> Doc:
    """When and how the gateway went over to ``new_day``.

    ``client_days`` are (wall_s, day) at every change of the day the WebSocket client was sent;
    the first with ``new_day`` is the switch. It is *on time* when it came after the new day's
    first event time ``first_event_ms`` (04:00) and never went back. A board is *empty after
    the switch* in a sample when the gateway serves no row while Redis (where the gateway
    reads) has members for it right before and right after that answer, in this and every
    sample of the last ``SETTLE_S`` seconds. Windowed boards (momentum, tape) are not judged:
    their members leave after seconds of feed time without trades, and at 900x a quiet
    pre-market empties and fills them again within one sample.
    A *reset storm* is more than ``STORM_SNAPSHOTS_PER_SUBSCRIPTION`` fresh snapshots per
    subscription within ``STORM_WINDOW_S`` of the switch; Redis commands/s in that window are
    shown beside those of the window after it, where the new day runs normally.
    """
    switch = next((wall for wall, day in client_days if day == new_day), None)
    days = [day for _, day in client_days]
    stayed = switch is not None and all(
        day == new_day for wall, day in client_days if wall >= switch
    )
    switch_sim = wall_to_sim(samples, switch) if switch is not None else None
    open_wall = sim_to_wall(samples, first_event_ms)
    after = [s for s in samples if switch is not None and s.wall_s >= switch]
    empty: dict[str, int] = {}
    for i, s in enumerate(samples):
        if switch is None or s.wall_s < switch + SETTLE_S:
            continue
        recent = [p for p in samples[: i + 1] if p.wall_s >= s.wall_s - SETTLE_S]
        for board, rows in s.board_rows.items():
            if board in WINDOWED:
                continue  # at 900x its members come and go within a sample
            if rows == 0 and all(p.board_members.get(board, 0) > 0 for p in recent):
                empty[board] = empty.get(board, 0) + 1
    first_rows = {
        board: next((round(s.wall_s - switch, 1) for s in after if s.board_rows.get(board)), None)
        for board in sorted({b for s in samples for b in s.board_rows})
        if switch is not None
    }
    snapshots = _increase(samples, "gateway_snapshots", switch, STORM_WINDOW_S)
    return {
        "switched": switch is not None,
        "switch_sim_et": et(switch_sim),
        "on_time": switch_sim is not None and switch_sim >= first_event_ms and stayed,
        "days_seen": days,
        "wall_s_from_first_event_to_switch": None
        if switch is None or open_wall is None
        else round(switch - open_wall, 2),
        "first_rows_after_switch_s": first_rows,
        "empty_board_samples": empty,
        "snapshots_in_window": snapshots,
        "reset_storm": snapshots is not None
        and snapshots > STORM_SNAPSHOTS_PER_SUBSCRIPTION * subscriptions,
        "redis_commands_per_s_window": _rate(samples, "redis_commands", switch, STORM_WINDOW_S),
        "redis_commands_per_s_after_window": _rate(
            samples,
            "redis_commands",
            None if switch is None else switch + STORM_WINDOW_S,
            STORM_WINDOW_S,
        ),
    }


def totals(samples: Sequence[DaySample]) -> dict[str, float]:
    """How much each counter grew from the first sample to the last (events sent and applied,
    CloudEvents shed stale, aged out of JetStream or of the bridge, snapshots sent, Redis
    commands)."""
    if len(samples) < 2:
        return {}
    first, last = samples[0].values, samples[-1].values
    return {k: last[k] - first[k] for k in sorted(COUNTERS) if k in first and k in last}


LATE_FRAMES_MS = 2 * 3_600_000  # of simulated time after the close, see quiet_night


def quiet_night(samples: Sequence[DaySample], close_ms: int, next_open_ms: int) -> Doc:
    """The night between the sessions (from ``close_ms``, 20:00, plus LATE_FRAMES_MS, to
    ``next_open_ms``, 04:00): events the simulator sent (none expected) and the consumers'
    backlog at its end (0). The last after-hours frames may leave a busy simulator a few wall
    seconds late, and at 900x that is an hour of simulated time (a CI run saw 120 events sent
    after 20:06), so the night is judged from 22:00. A sample is in the night only if its
    counters were read wholly within it: one read at 03:59 whose scrape ended after 04:00
    counts the next session's first events."""
    start = close_ms + LATE_FRAMES_MS
    night = [s for s in samples if start <= s.sim_ms and s.measured_until_ms < next_open_ms]
    if len(night) < 2:
        return {"samples": len(night), "quiet": False}
    sent = night[-1].values.get("sim_events", 0.0) - night[0].values.get("sim_events", 0.0)
    return {
        "samples": len(night),
        "from_et": et(night[0].sim_ms),
        "to_et": et(night[-1].sim_ms),
        "events_sent": sent,
        "pending_at_end": night[-1].values.get("pending"),
        "quiet": sent == 0 and not night[-1].values.get("pending"),
    }


def _window(samples: Sequence[DaySample], start: float, seconds: float) -> list[DaySample]:
    return [s for s in samples if start <= s.wall_s <= start + seconds]


def _increase(
    samples: Sequence[DaySample], name: str, start: float | None, seconds: float
) -> float | None:
    if start is None:
        return None
    window = [s for s in _window(samples, start - 1.0, seconds + 1.0) if name in s.values]
    if len(window) < 2:
        return None
    return window[-1].values[name] - window[0].values[name]


def _rate(
    samples: Sequence[DaySample], name: str, start: float | None, seconds: float
) -> float | None:
    if start is None:
        return None
    window = [s for s in _window(samples, start, seconds) if name in s.values]
    if len(window) < 2 or window[-1].wall_s <= window[0].wall_s:
        return None
    grown = window[-1].values[name] - window[0].values[name]
    return round(grown / (window[-1].wall_s - window[0].wall_s), 1)
