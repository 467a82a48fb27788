"""The day scenario: its conclusions on fixed samples (pure), and the CI-sized real run.

The real run (``stampede bench --quick --scenario day``, ~90 s) drives the whole scanner from
19:30 ET through the night into the next pre-market at 900x and checks what a trader leaving
it running would need: the close and the night are quiet, the boards equal the truth after
the close, every day-scoped key expires, the gateway switches day at 04:00 without a storm or
an empty board, and the next day's reference data is loaded. No figure is asserted.
"""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from stampede import markettime
from stampede.tools.bench import dayfigures
from stampede.tools.bench.dayfigures import DaySample
from support.bench import run_bench

DAY = date(2025, 3, 13)
NEXT = date(2025, 3, 14)
HOUR = 3_600_000


def _ms(day: date, hour: int, minute: int = 0) -> int:
    return markettime.et_ms(day, time(hour, minute))


def test_growth_is_a_slope_per_simulated_hour_by_session() -> None:
    base = _ms(DAY, 10)
    samples = [
        DaySample(float(i), base + i * HOUR // 2, {"rss_mb:gateway": 60.0 + i, "sim_events": i})
        for i in range(5)
    ]  # 10:00 .. 12:00 ET, +1 MB every half hour
    growth = dayfigures.growth_per_sim_hour(samples)
    assert set(growth) == {"rss_mb:gateway"}  # counters are not "grown"
    assert growth["rss_mb:gateway"]["regular"]["per_sim_hour"] == 2.0
    assert growth["rss_mb:gateway"]["all"] == {
        "first": 60.0,
        "last": 64.0,
        "max": 64.0,
        "per_sim_hour": 2.0,
        "sim_hours": 2.0,
    }


def test_census_counts_keys_by_day_and_kind_with_ttls() -> None:
    census = dayfigures.key_census(
        [
            ("sp:2025-03-13:board:gainers", 345_600),
            ("sp:2025-03-13:{s0}:row:AAPL", 345_000),  # a shard hash tag is skipped
            ("sp:2025-03-13:row:MSFT", -1),
            ("sp:ref:2025-03-14:prev_close", 300),
            ("sp:changes", -1),
        ]
    )
    assert census["2025-03-13"]["row"] == {
        "keys": 2,
        "ttl_min_s": 345_000,
        "ttl_max_s": 345_000,
        "no_ttl": 1,
    }
    assert census["2025-03-14"]["ref"]["keys"] == 1
    assert dayfigures.never_expiring(census, "2025-03-13") == 1
    assert dayfigures.never_expiring(census, "2025-03-14") == 0


def _night_and_morning(rows_after: int = 5, snapshots_after: float = 12.0) -> list[DaySample]:
    """One sample a wall second, 15 simulated minutes each, 03:00 -> 06:00 ET of NEXT."""
    samples = []
    for i in range(13):
        sim = _ms(NEXT, 3) + i * 15 * 60_000
        morning = sim >= _ms(NEXT, 4)
        s = DaySample(float(i), sim)
        s.values = {
            "sim_events": 100.0 * max(0, i - 4),
            "pending": 0.0,
            "gateway_snapshots": 12.0 + (snapshots_after if i >= 5 else 0.0),
            "redis_commands": 1000.0 * i,
        }
        s.board_day = (NEXT if morning else DAY).isoformat()
        s.board_rows = {"gainers": rows_after if morning else 20, "halts": 0}
        s.board_members = {"gainers": 7 if morning else 0, "halts": 0}
        samples.append(s)
    return samples


def test_day_switch_on_time_without_storm_or_empty_board() -> None:
    samples = _night_and_morning()
    days = [(0.0, DAY.isoformat()), (4.5, NEXT.isoformat())]  # first 2025-03-14 message
    switch = dayfigures.day_switch(samples, NEXT.isoformat(), _ms(NEXT, 4), days, 12)
    assert switch["switched"] and switch["on_time"]
    assert switch["switch_sim_et"] == "2025-03-14T04:07:30-04:00"
    assert switch["wall_s_from_first_event_to_switch"] == 0.5
    assert switch["empty_board_samples"] == {} and not switch["reset_storm"]
    assert switch["first_rows_after_switch_s"] == {"gainers": 0.5, "halts": None}


def test_day_switch_finds_early_switches_storms_and_empty_boards() -> None:
    early = [(0.0, DAY.isoformat()), (2.0, NEXT.isoformat())]  # 03:30: before any event
    samples = _night_and_morning()
    assert not dayfigures.day_switch(samples, NEXT.isoformat(), _ms(NEXT, 4), early, 12)["on_time"]
    back = [(0.0, DAY.isoformat()), (4.5, NEXT.isoformat()), (6.0, DAY.isoformat())]
    assert not dayfigures.day_switch(samples, NEXT.isoformat(), _ms(NEXT, 4), back, 12)["on_time"]
    days = [(4.5, NEXT.isoformat())]
    empty = dayfigures.day_switch(_night_and_morning(0), NEXT.isoformat(), _ms(NEXT, 4), days, 12)
    assert empty["empty_board_samples"] == {"gainers": 6}  # from SETTLE_S after the switch on
    churning = _night_and_morning(0)
    for s in churning:  # a window board empties and fills within a sample at 900x
        s.board_rows["tape_speed"], s.board_members["tape_speed"] = 0, 3
    judged = dayfigures.day_switch(churning, NEXT.isoformat(), _ms(NEXT, 4), days, 12)
    assert judged["empty_board_samples"] == {"gainers": 6}
    storm = dayfigures.day_switch(
        _night_and_morning(snapshots_after=60), NEXT.isoformat(), _ms(NEXT, 4), days, 12
    )
    assert storm["reset_storm"] and storm["snapshots_in_window"] == 60


def test_totals_are_counter_increases_over_the_run() -> None:
    assert dayfigures.totals(_night_and_morning()) == {
        "gateway_snapshots": 12.0,
        "redis_commands": 12_000.0,
        "sim_events": 800.0,
    }


def test_quiet_night_sends_nothing_and_drains() -> None:
    bounds = (_ms(DAY, 20), _ms(NEXT, 4))
    night = dayfigures.quiet_night(_night_and_morning(), *bounds)
    assert night["quiet"] and night["events_sent"] == 0 and night["samples"] == 4
    assert night["from_et"] == "2025-03-14T03:00:00-04:00"
    noisy = _night_and_morning()
    noisy[2].values["sim_events"] = 50.0
    noisy[3].values["sim_events"] = 50.0
    assert not dayfigures.quiet_night(noisy, *bounds)["quiet"]
    # a sample whose clock read 03:45 but whose counters were scraped after 04:00 holds the
    # next session's first events: it is not night
    late = _night_and_morning()
    late[3].sim_end_ms = _ms(NEXT, 4) + 30_000
    late[3].values["sim_events"] = 100.0
    assert dayfigures.quiet_night(late, *bounds)["samples"] == 3
    assert dayfigures.quiet_night(late, *bounds)["quiet"]
    # 03:00 -> 04:00 of the night *before* the session is not the night between sessions
    assert (
        dayfigures.quiet_night(_night_and_morning(), _ms(NEXT, 20), _ms(NEXT, 23))["samples"] == 0
    )


@pytest.mark.slow
def test_quick_day_closes_sleeps_and_switches_to_the_next_premarket(tmp_path: Path) -> None:
    stdout, results = run_bench(["--quick", "--scenario", "day"], tmp_path / "out", 240)
    day = results["day"]
    assert day["first_sim_et"] < "2025-03-13T20:00" and day["last_sim_et"] > "2025-03-14T04:30"
    assert day["keys_after_close"]["2025-03-13"]["board"]["keys"] > 0  # the session was seen
    assert day["boards_vs_truth_after_close"]["all_match"], day["boards_vs_truth_after_close"]
    assert day["night"]["quiet"], day["night"]
    assert day["totals"]["sim_events"] > 0 and day["totals"]["events_applied"] > 0
    assert day["never_expiring_keys"] == {"2025-03-13": 0, "2025-03-14": 0}
    switch = day["switch"]
    assert switch["switched"] and switch["on_time"], switch
    assert not switch["reset_storm"] and switch["empty_board_samples"] == {}, switch
    assert day["next_day_reference_loaded"]
    assert {"rss_mb:redis-server", "rss_mb:gateway", "redis_used_mb", "redis_keys"} <= set(
        day["growth"]
    )
    assert "DAY (2025-03-13" in stdout
