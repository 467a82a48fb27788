"""Pure scoring on hand-made events: numbers in, board updates out, no servers."""

from __future__ import annotations

from datetime import date

import pytest

from stampede.functions.halts.scoring import score_batch as halts_batch
from stampede.functions.momentum.scoring import reduce_trades
from stampede.functions.movers.scoring import (
    PREMARKET_CLOCK,
    locate,
    premarket_writes,
    score_batch,
)
from stampede.functions.reference import MINUTES_PER_DAY, Reference
from stampede.market import Aggregate
from support.functions import DAY, at, bar, luld, trade

D = DAY.isoformat()
# A flat profile: half the day's volume done by 12:00 ET, linear from 04:00 to 20:00.
LINEAR = tuple(min(max((m + 1 - 240) / 960, 0.0), 1.0) for m in range(MINUTES_PER_DAY))
REF = Reference(prev_close={"AAA": 10.0, "BBB": 20.0}, adv={"AAA": 1_000_000.0}, profile=LINEAR)


def movers(bars: list[Aggregate], reference: Reference = REF) -> dict:
    return {w.sym: w for w in score_batch(locate(bars), {D: reference})}


def test_gainers_losers_volume_from_the_newest_bar_against_previous_close() -> None:
    rows = movers(
        [
            bar("AAA", "10:00:00", 11.0, 400_000, op=10.2),
            bar("AAA", "10:00:01", 12.0, 410_000, op=10.2),
            bar("BBB", "10:00:00", 18.0, 5_000, op=19.0),
        ]
    )
    a, b = rows["AAA"], rows["BBB"]
    assert a.fields["last"] == 12 and a.fields["change_pct"] == pytest.approx(20)
    assert a.scores["gainers"] == a.scores["losers"] == pytest.approx(20.0)
    assert a.scores["volume"] == 410_000 and a.t == at("10:00:01")
    assert b.scores["losers"] == pytest.approx(-10.0)
    assert a.static["has_reference"] == "1" and a.static["prev_close"] == 10


def test_gap_uses_premarket_price_before_the_open_and_op_after() -> None:
    pre = movers([bar("AAA", "08:15:00", 10.8, 50_000)])["AAA"]  # op absent before 09:30
    assert pre.scores["gappers"] == pytest.approx(8.0) and pre.fields["open"] == 10.8
    assert "from_open" in pre.remove and "from_open" not in pre.scores  # undefined before open
    post = movers([bar("AAA", "09:45:00", 11.5, 900_000, op=10.5)])["AAA"]
    assert post.scores["gappers"] == pytest.approx(5.0)
    assert post.scores["from_open"] == pytest.approx((11.5 - 10.5) / 10.5 * 100)


def test_after_the_open_without_op_the_gap_is_left_alone() -> None:
    row = movers([bar("AAA", "09:30:05", 10.9, 900_000)])["AAA"]
    assert "gappers" not in row.scores and "gappers" not in row.remove


def test_rvol_is_volume_over_expected_volume_at_this_time_of_day() -> None:
    # By 12:00 ET (minute 720) the linear profile says half the day: expected = 500,000.
    row = movers([bar("AAA", "12:00:00", 11.0, 1_500_000, op=10.0)])["AAA"]
    assert row.scores["rvol"] == pytest.approx(3.0)
    # Same volume at 16:00 (expected 750,000) is only 2x: time of day matters, not ADV alone.
    later = movers([bar("AAA", "16:00:00", 11.0, 1_500_000, op=10.0)])["AAA"]
    assert later.scores["rvol"] == pytest.approx(2.0)


def test_rvol_off_the_board_without_volume_history() -> None:
    row = movers([bar("BBB", "12:00:00", 21.0, 1_000, op=20.0)])["BBB"]  # prev close, no ADV
    assert "rvol" in row.remove and "gainers" in row.scores


def test_missing_reference_data_is_shown_as_such_and_not_ranked() -> None:
    row = movers([bar("NEW", "10:00:00", 5.0, 10_000, op=4.0)])["NEW"]
    assert row.static["has_reference"] == "0" and "change_pct" not in row.fields
    assert set(row.remove) >= {"gainers", "losers", "gappers", "rvol"}
    assert set(row.scores) == {"volume", "from_open"}  # these need no reference data
    nothing = movers([bar("AAA", "10:00:00", 11.0, 1.0, op=10.0)], Reference())["AAA"]
    assert nothing.static["has_reference"] == "0"


def test_a_new_day_scores_against_its_own_day() -> None:
    next_day = date(2025, 3, 17)
    writes = score_batch(
        locate(
            [
                bar("AAA", "23:59:59", 11.0, 5, day=DAY),
                bar("AAA", "04:00:01", 12.0, 7, day=next_day),
            ]
        ),
        {D: REF},
    )
    assert {w.day for w in writes} == {D, next_day.isoformat()}
    fresh = next(w for w in writes if w.day == next_day.isoformat())
    assert fresh.static["has_reference"] == "0"  # no reference loaded for the new day yet


def test_newest_bar_wins_and_a_corrected_resend_with_more_volume_replaces_it() -> None:
    first = bar("AAA", "10:00:00", 11.0, 100)
    corrected = bar("AAA", "10:00:00", 11.1, 150)
    older = bar("AAA", "09:59:59", 13.0, 90)
    assert [x.bar for x in locate([first, corrected, older])] == [corrected]


def test_odd_lots_count_volume_but_do_not_move_last_or_high() -> None:
    t0 = at("10:00:00")
    [sym] = reduce_trades(
        [
            trade("AAA", t0, 10.0, 100, q=1),
            trade("AAA", t0 + 100, 15.0, 10, c=[37], q=2),  # odd lot
            trade("AAA", t0 + 200, 10.5, 100, c=[14], q=3),  # intermarket sweep: eligible
            trade("AAA", t0 + 300, 99.0, 100, c=[16], q=4),  # official open print: nothing
            trade("AAA", t0 + 1500, 9.0, 100, c=[5], q=5),  # high/low only, not last
        ]
    )
    assert sym.last == (t0 + 200, 3, 10.5)
    assert sym.high == (10.5, t0 + 200) and sym.low == (9.0, t0 + 1500)
    first, second = sym.seconds[t0 // 1000], sym.seconds[t0 // 1000 + 1]
    assert first.trades == 3 and first.cents == 100_000 + 15_000 + 105_000
    assert second.trades == 1 and second.last is None


def test_premarket_high_is_tracked_apart_from_the_regular_high() -> None:
    [sym] = reduce_trades(
        [trade("AAA", at("08:00:00"), 12.0, q=1), trade("AAA", at("09:31:00"), 11.0, q=2)]
    )
    assert sym.premarket_high == (12.0, at("08:00:00"))
    assert sym.high == (11.0, at("09:31:00"))


def test_equal_highs_keep_the_time_first_reached() -> None:
    [sym] = reduce_trades(
        [trade("AAA", at("10:00:05"), 11.0, q=2), trade("AAA", at("10:00:01"), 11.0, q=1)]
    )
    assert sym.high == (11.0, at("10:00:01"))


def test_halts_and_bands() -> None:
    t = at("10:00:00") * 1000  # LULD timestamps may be microseconds
    writes = halts_batch(
        [
            luld("AAA", t, 11.0, 9.0, q=1),
            luld("AAA", t + 5_000_000, 11.5, 9.5, i=[17], q=2),
            luld("BBB", t, 30.0, 20.0, i=[18], q=1),
        ]
    )
    by = {(w.sym, w.clock): w for w in writes}
    assert by[("AAA", "luld")].fields["luld_upper"] == 11.5
    # only the band write records bands for near_luld; a halt write re-ranks nothing there
    assert by[("AAA", "luld")].sets_bands and not by[("AAA", "halt")].sets_bands
    assert by[("AAA", "halt")].fields["halted"] == "1"
    assert by[("AAA", "halt")].scores["halts"] == at("10:00:05")
    assert by[("BBB", "halt")].fields["halted"] == "0"
    assert all(w.day == D for w in writes)
    # a halt starts a halt (no resume yet); its resume says when it ended, and keeps its start
    assert by[("AAA", "halt")].fields["halt_start_ms"] == str(at("10:00:05"))
    assert by[("AAA", "halt")].fields["resume_ms"] == ""
    assert by[("BBB", "halt")].fields["resume_ms"] == str(at("10:00:00"))
    assert "halt_start_ms" not in by[("BBB", "halt")].fields  # its halt came in an earlier batch
    both = halts_batch(
        [luld("CCC", t, 5, 4, i=[17], q=1), luld("CCC", t + 300_000_000, 5, 4, i=[18], q=2)]
    )
    (ccc,) = [w for w in both if w.clock == "halt"]
    assert ccc.fields["halted"] == "0" and ccc.scores["halts"] == at("10:05:00")
    assert ccc.fields["halt_start_ms"] == str(at("10:00:00"))
    assert int(ccc.fields["resume_ms"]) - int(ccc.fields["halt_start_ms"]) == 300_000  # 5 min


def test_premarket_volume_is_the_av_of_the_newest_bar_ending_by_the_open() -> None:
    bars = [
        bar("AAA", "09:29:58", 10.0, 1_000),
        bar("AAA", "09:30:00", 10.0, 1_500),  # the 09:29:59 second: still pre-market
        bar("AAA", "09:30:01", 10.0, 1_600, op=10.0),
        bar("BBB", "04:00:00", 5.0, 10),  # the 03:59:59 second: before the pre-market
        bar("BBB", "08:00:00", 5.0, 50),
        bar("BBB", "07:00:00", 5.0, 40),  # older, later in the batch
    ]
    writes = {w.sym: w for w in premarket_writes(bars)}
    assert {s: w.fields for s, w in writes.items()} == {
        "AAA": {"premarket_volume": 1_500},
        "BBB": {"premarket_volume": 50},
    }
    assert {w.clock for w in writes.values()} == {PREMARKET_CLOCK}
    assert premarket_writes([bar("AAA", "09:30:01", 10.0, 1_600, op=10.0)]) == []
