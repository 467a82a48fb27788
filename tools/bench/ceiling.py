"""The ceiling report: from what each process spent at a measured rate, where each stage stops.

CPU per applied event is a process's cost whatever else shares the machine (it depends on how
fast the machine is: read it beside the speed probe). From it: the rate at which that process
alone would fill one core; for the stages that scale by adding processes, how many 100k and
250k events/s need; for the single ones (one Massive connection, one load generator), their
ceiling; and the rate N cores would hold if every process got the share it needs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

TARGETS = (100_000, 250_000)
# One process by design: Massive allows one connection per account (the bridge), and the
# simulator is the load generator, not part of a deployment.
SINGLE = {"bridge", "sim"}
_REPLICA = re.compile(r"(function-[a-z]+|gateway)-\d+")  # second and later processes


def stage_of(process: str) -> str:
    """The stage a process belongs to: the replicas of a function (``function-momentum-2``) or
    of the gateway (``gateway-2``) are one."""
    match = _REPLICA.fullmatch(process)
    return match.group(1) if match else process


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    processes: int  # how many ran (a function's replicas, counted together)
    us_per_event: float  # CPU of all of them per applied event
    single: bool

    @property
    def core_rate(self) -> float:
        """Events/s at which this stage fills one core (per process for a replicated stage)."""
        return 1e6 / self.us_per_event if self.us_per_event else math.inf

    def needed(self, rate: float) -> int:
        """Cores (processes of one core each) the stage needs at ``rate`` events/s."""
        return max(1, math.ceil(rate * self.us_per_event / 1e6))


def stages(cpu_percent: dict[str, float], applied_per_s: float) -> list[Stage]:
    """Each stage's CPU per applied event, a function's replicas together, busiest first."""
    if applied_per_s <= 0:
        return []
    grouped: dict[str, list[float]] = {}
    for name, percent in cpu_percent.items():
        grouped.setdefault(stage_of(name), []).append(percent)
    out = [
        Stage(name, len(shares), sum(shares) / 100 / applied_per_s * 1e6, name in SINGLE)
        for name, shares in grouped.items()
    ]
    return sorted(out, key=lambda s: -s.us_per_event)


def held_on(cores: int, all_stages: list[Stage]) -> float:
    """Events/s that ``cores`` cores hold when each stage gets the share it needs, bounded by
    the ceiling of the single stages."""
    total = sum(s.us_per_event for s in all_stages)
    by_cores = cores * 1e6 / total if total else math.inf
    singles = [s.core_rate for s in all_stages if s.single]
    return min([by_cores, *singles])


def lines(cpu_percent: dict[str, float], applied_per_s: float, cores: tuple[int, ...]) -> list[str]:
    found = stages(cpu_percent, applied_per_s)
    if not found:
        return []
    head = f"ceiling at {applied_per_s:,.0f} applied events/s (CPU us per event, one core's rate"
    out = [head + ", cores for " + " / ".join(f"{t // 1000}k" for t in TARGETS) + "):"]
    for s in found:
        what = (
            f"single: stops at {s.core_rate:,.0f}/s"
            if s.single
            else "needs " + " / ".join(str(s.needed(t)) for t in TARGETS)
        )
        ran = f" x{s.processes}" if s.processes > 1 else ""
        out.append(f"  {s.name}{ran}: {s.us_per_event:.1f} us, {s.core_rate:,.0f}/s; {what}")
    total = sum(s.us_per_event for s in found)
    predicted = ", ".join(f"{n} cores {held_on(n, found):,.0f}/s" for n in cores)
    out.append(f"  all processes: {total:.1f} us per event; predicted held rate: {predicted}")
    return out


def busiest_function(cpu_percent: dict[str, float]) -> str:
    """The function (``momentum``) whose processes together used the most CPU."""
    totals: dict[str, float] = {}
    for process, percent in cpu_percent.items():
        stage = stage_of(process)
        if stage.startswith("function-"):
            totals[stage] = totals.get(stage, 0.0) + percent
    if not totals:
        raise ValueError("no function process in the run")
    return max(totals, key=lambda stage: totals[stage]).removeprefix("function-")


@dataclass(frozen=True, slots=True)
class Replica:
    """One process of a replicated function in one run: its share of the CloudEvents the
    dispatcher delivered to the function, its CPU, and its CPU per event it applied."""

    process: str
    share: float  # 0..1
    cpu_percent: float
    us_per_event: float | None  # None: it applied nothing


def replicas(
    function: str,
    cpu_percent: dict[str, float],
    deliveries_per_s: dict[str, float],
    applied_per_s: float,
) -> list[Replica]:
    """Each process of ``function``: share of its deliveries, CPU, and CPU per applied event,
    taking the events a replica applied as its share of the function's applied events
    (CloudEvents of one trigger carry alike batches)."""
    stage = f"function-{function}"
    mine = sorted((p for p in cpu_percent if stage_of(p) == stage), key=_replica_order)
    total = sum(deliveries_per_s.get(p, 0.0) for p in mine)
    out = []
    for process in mine:
        share = deliveries_per_s.get(process, 0.0) / total if total else 0.0
        events = applied_per_s * share
        cpu = cpu_percent[process]
        out.append(Replica(process, share, cpu, cpu / 100 / events * 1e6 if events else None))
    return out


def _replica_order(process: str) -> int:
    """function-momentum -> 1, function-momentum-3 -> 3."""
    tail = process.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 1


def redis_us_per_event(cpu_percent: dict[str, float], applied_per_s: float) -> float | None:
    """CPU of every Redis process (``redis-server``, ``redis-replica``, a cluster's
    ``redis-N``: primaries and replicas) per applied event."""
    redis = sum(c for p, c in cpu_percent.items() if p.startswith("redis"))
    return redis / 100 / applied_per_s * 1e6 if applied_per_s > 0 else None
