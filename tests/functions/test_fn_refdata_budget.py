"""The background load's budget (functions/refdata/budget.py): it sleeps exactly what keeps its
CPU within the share of the wall time, waits while the live feed is late (bounded, and earning
no CPU credit), and counts both by reason."""

from __future__ import annotations

import pytest

from stampede.functions import metrics
from stampede.functions.refdata.budget import LATE_MAX_WAIT_S, LATE_STEP_S, CpuBudget, wait_for


def throttled(reason: str) -> float:
    return metrics.REFDATA_THROTTLED.labels(reason)._value.get()


def test_within_the_share_no_wait_ahead_of_it_the_difference() -> None:
    assert wait_for(cpu_used=0.1, elapsed=1.0, share=0.1) == 0.0
    assert wait_for(cpu_used=0.05, elapsed=2.0, share=0.1) == 0.0
    # 0.3 s of CPU at 10 % of a core needs 3 s of wall time: 1 s gone, 2 s to wait
    assert wait_for(cpu_used=0.3, elapsed=1.0, share=0.1) == pytest.approx(2.0)


class Clocks:
    """Injected CPU and wall clocks; ``sleep`` moves the wall clock only."""

    def __init__(self) -> None:
        self.cpu, self.wall = 10.0, 100.0

    async def sleep(self, seconds: float) -> None:
        self.wall += seconds


async def test_pace_sleeps_while_ahead_and_counts_it() -> None:
    c = Clocks()
    budget = CpuBudget(0.5, cpu=lambda: c.cpu, wall=lambda: c.wall, sleep=c.sleep)
    before = throttled("cpu")
    c.cpu, c.wall = 10.02, 100.02  # 20 ms of CPU in 20 ms: needs 40 ms at half a core
    assert await budget.pace() == pytest.approx(0.02)
    assert throttled("cpu") == pytest.approx(before + 0.02)
    assert await budget.pace() == pytest.approx(0.0, abs=1e-9)  # the wall caught up


async def test_a_late_live_feed_pauses_the_load_until_it_catches_up() -> None:
    c = Clocks()
    answers = iter([True, True, True, False])

    async def late() -> bool:
        return next(answers, False)

    budget = CpuBudget(0.5, late=late, cpu=lambda: c.cpu, wall=lambda: c.wall, sleep=c.sleep)
    before = throttled("live_late")
    assert await budget.pace() == pytest.approx(3 * LATE_STEP_S)
    assert throttled("live_late") == pytest.approx(before + 3 * LATE_STEP_S)
    # the wait earned no credit: 0.4 s of CPU at half a core still needs 0.8 s of its own wall
    c.cpu += 0.4
    c.wall += 0.4
    assert await budget.pace() == pytest.approx(0.4)


async def test_a_live_feed_that_stays_late_only_slows_the_load() -> None:
    c = Clocks()

    async def late() -> bool:
        return True

    budget = CpuBudget(0.5, late=late, cpu=lambda: c.cpu, wall=lambda: c.wall, sleep=c.sleep)
    assert await budget.pace() == pytest.approx(LATE_MAX_WAIT_S)  # then the next step runs
