"""The background load's CPU budget (functions/refdata/budget.py): it sleeps exactly what
keeps its CPU within the share of the wall time, and counts the sleep."""

from __future__ import annotations

import pytest

from stampede.functions import metrics
from stampede.functions.refdata.budget import CpuBudget, wait_for


def test_within_the_share_no_wait_ahead_of_it_the_difference() -> None:
    assert wait_for(cpu_used=0.1, elapsed=1.0, share=0.1) == 0.0
    assert wait_for(cpu_used=0.05, elapsed=2.0, share=0.1) == 0.0
    # 0.3 s of CPU at 10 % of a core needs 3 s of wall time: 1 s gone, 2 s to wait
    assert wait_for(cpu_used=0.3, elapsed=1.0, share=0.1) == pytest.approx(2.0)


async def test_pace_sleeps_while_ahead_and_counts_it() -> None:
    cpu, wall = [10.0], [100.0]
    budget = CpuBudget(0.5, cpu=lambda: cpu[0], wall=lambda: wall[0])
    before = metrics.REFDATA_THROTTLED._value.get()
    cpu[0], wall[0] = 10.02, 100.02  # 20 ms of CPU in 20 ms: needs 40 ms at half a core
    assert await budget.pace() == pytest.approx(0.02)
    assert metrics.REFDATA_THROTTLED._value.get() == pytest.approx(before + 0.02)
    wall[0] = 100.05  # the wall caught up: no more waiting
    assert await budget.pace() == 0.0
