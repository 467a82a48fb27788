"""When a rate counts as *held*, and how the open recovered: pure functions of measured figures.

Two definitions are kept side by side so a change of definition is visible in every report:

- **strict** (issue 13, the project's bar): the functions apply >= 99 % of the offered rate over
  the window; the board-write p99 (from the bridge reading the frame) of the window's last half
  (the last 30 s of a 60 s window) is under 500 ms; no CloudEvent is shed as stale; and the
  consumers' pending backlog is not growing (least-squares slope over the window). A board
  2.5 s late is not held, whatever its median.
- **old** (until issue 13): >= 95 % applied, board-write p50 of the last third under 1 s,
  nothing shed. It called 25,000 events/s with p99 2.5 s "held".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Doc = dict[str, Any]  # a JSON document of figures, as written to the results file

STRICT_APPLIED_RATIO = 0.99
STRICT_P99_SECONDS = 0.5
# A backlog rising by more than this many CloudEvents per second over the window is growing:
# at 500 events per CloudEvent, 0.5/s is 250 events/s falling behind.
PENDING_GROWTH_PER_S = 0.5
OLD_APPLIED_RATIO = 0.95
OLD_P50_SECONDS = 1.0
OPEN_P99_SECONDS = 1.0
OPEN_SETTLED_AFTER_S = 5.0  # the open's target: p99 < 1 s in every second from 09:30:05 on


@dataclass(frozen=True)
class Verdict:
    held: bool
    why_not: tuple[str, ...] = field(default=())  # every failed condition, for the report

    def as_json(self) -> Doc:
        return {"held": self.held, "why_not": list(self.why_not)}


def _verdict(failures: list[str]) -> Verdict:
    return Verdict(not failures, tuple(failures))


def strict_held(
    offered: float,
    applied: float,
    tail_p99_s: float | None,
    stale: float,
    pending_slope_per_s: float,
) -> Verdict:
    """The strict definition (see the module docstring)."""
    failures = []
    if applied < STRICT_APPLIED_RATIO * offered:
        failures.append(f"applied {applied / offered:.1%} < 99%" if offered else "nothing offered")
    if tail_p99_s is None:
        failures.append("no board write in the tail")
    elif tail_p99_s >= STRICT_P99_SECONDS:
        failures.append(f"tail board-write p99 {tail_p99_s * 1000:.0f} ms >= 500 ms")
    if stale:
        failures.append(f"{stale:.0f} CloudEvents shed stale")
    if pending_slope_per_s > PENDING_GROWTH_PER_S:
        failures.append(f"pending growing {pending_slope_per_s:.1f} CloudEvents/s")
    return _verdict(failures)


def old_held(offered: float, applied: float, tail_p50_s: float | None, stale: float) -> Verdict:
    """The definition before issue 13, reported beside the strict one."""
    failures = []
    if applied < OLD_APPLIED_RATIO * offered:
        failures.append(f"applied {applied / offered:.1%} < 95%" if offered else "nothing offered")
    if tail_p50_s is None or tail_p50_s >= OLD_P50_SECONDS:
        failures.append("tail board-write p50 >= 1 s")
    if stale:
        failures.append(f"{stale:.0f} CloudEvents shed stale")
    return _verdict(failures)


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points; 0 for fewer than two distinct x."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def recovery_seconds(timeline: Sequence[Doc], limit_s: float = OPEN_P99_SECONDS) -> float | None:
    """Seconds after the open until every later second's board-write p99 is under ``limit_s``
    with nothing shed (None: it never settled within the timeline)."""
    recovered = None
    for p in (p for p in timeline if p["t"] > 0):
        late = p["board_write_p99"] is not None and p["board_write_p99"] >= limit_s
        if late or p["stale"]:
            recovered = None
        elif recovered is None:
            recovered = max(0.0, p["t"] - 1)
    return recovered


def open_verdict(timeline: Sequence[Doc], settled_after_s: float = OPEN_SETTLED_AFTER_S) -> Doc:
    """The open's target: board-write p99 < 1 s in *every* second from 09:30:05 on, nothing shed.

    A second without any board write counts as late only if work was pending (a quiet second is
    not a late one)."""
    after = [p for p in timeline if p["t"] > settled_after_s]
    late = [
        p["t"]
        for p in after
        if (p["board_write_p99"] is not None and p["board_write_p99"] >= OPEN_P99_SECONDS)
        or (p["board_write_p99"] is None and p["pending"] > 0)
    ]
    shed = sum(p["stale"] for p in timeline if p["t"] > 0)
    return {
        "held": bool(after) and not late and not shed,
        "late_seconds": late,
        "stale_shed": shed,
        "worst_p99_s": max((p["board_write_p99"] or 0.0 for p in after), default=None),
    }


def restart_verdicts(
    timeline: Sequence[Doc], restarts: Sequence[tuple[str, float]], end_s: float
) -> list[Doc]:
    """Per (re)start of a part, at ``at`` seconds on the timeline: how long until the live
    board-write p99 stayed under 1 s (``caught_up_s``), and whether it was under 1 s in every
    second from 5 s after the restart until the next one (the open's target, per segment)."""
    out = []
    for i, (part, at) in enumerate(restarts):
        until = restarts[i + 1][1] if i + 1 < len(restarts) else end_s
        segment = [{**p, "t": p["t"] - at} for p in timeline if at - 1 <= p["t"] <= until]
        target = open_verdict(segment)
        out.append(
            {
                "part": part,
                "at_s": round(at, 1),
                "caught_up_s": recovery_seconds(segment),
                "held": target["held"],
                "late_seconds": [round(t + at, 1) for t in target["late_seconds"]],
                "worst_p99_s": target["worst_p99_s"],
                "stale_shed": target["stale_shed"],
            }
        )
    return out


HOSTILE_P99_RATIO = 1.25  # the honest client's p99 under attack, against the same run without
HOSTILE_RSS_MB = 300.0
HOSTILE_FLOODER_CUT_S = 10.0
HOSTILE_SLOW_HEADER_S = 15.0


def hostile_verdict(
    calm_p99_ms: float | None,
    attacked_p99_ms: float | None,
    gateway_rss_mb_max: float,
    attack: Doc,
    admitted_max: int,
    cap: int,
    forged_on_boards: int,
) -> Verdict:
    """Issue 25's bar for ``--scenario hostile``: the honest client's exchange->client p99
    within 1.25x of the calm run, gateway RSS under 300 MB, every flooder cut off within 10 s,
    no slow-header connection open past 15 s, at most the cap admitted, nothing forged shown."""
    failures = []
    if calm_p99_ms is None or attacked_p99_ms is None:
        failures.append("the honest client measured no latency")
    elif attacked_p99_ms > HOSTILE_P99_RATIO * calm_p99_ms:
        failures.append(
            f"honest p99 {attacked_p99_ms:.0f} ms > {HOSTILE_P99_RATIO}x {calm_p99_ms:.0f} ms"
        )
    if gateway_rss_mb_max >= HOSTILE_RSS_MB:
        failures.append(f"gateway RSS {gateway_rss_mb_max:.0f} MB")
    flooders = attack["flooders"]
    # each flooder must have seen its socket closed in time, and the gateway must say it cut
    # them (not that they left): the attacker sees the close itself, the gateway counts it
    cut = min(flooders["cut_off"], flooders.get("gateway_cut", flooders["cut_off"]))
    worst_cut = flooders["cut_off_after_s_max"]
    if cut < flooders["count"] or worst_cut is None or worst_cut > HOSTILE_FLOODER_CUT_S:
        failures.append(
            f"{cut} of {flooders['count']} flooders cut off, the last within {worst_cut} s"
        )
    if attack["slow_headers"]["open_past_15_s"]:
        failures.append(
            f"{attack['slow_headers']['open_past_15_s']} slow-header connections open past 15 s"
        )
    if admitted_max > cap:
        failures.append(f"{admitted_max} connections admitted over a cap of {cap}")
    if forged_on_boards:
        failures.append(f"{forged_on_boards} forged symbols on the boards")
    return _verdict(failures)
