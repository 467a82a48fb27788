"""The benchmark's verdicts on fixed figures: strict vs old *held*, the open's target, recovery.

Pure: numbers (or hand-made scrape snapshots) in, verdicts out.
"""

from __future__ import annotations

from stampede.telemetry import LATENCY_BUCKETS
from stampede.tools.bench import verdict
from stampede.tools.bench.figures import (
    PIPELINE,
    Sample,
    news_history_caught_up,
    per_second,
    window_figures,
)
from stampede.tools.promscrape import Snapshot


def test_strict_needs_99_percent_tail_p99_no_stale_and_flat_pending() -> None:
    assert verdict.strict_held(10_000, 9_950, 0.3, 0, 0.0).held
    assert not verdict.strict_held(10_000, 9_800, 0.3, 0, 0.0).held  # 98 % applied
    assert not verdict.strict_held(10_000, 9_950, 0.5, 0, 0.0).held  # p99 at the limit
    assert not verdict.strict_held(10_000, 9_950, None, 0, 0.0).held  # nothing written
    assert not verdict.strict_held(10_000, 9_950, 0.3, 1, 0.0).held  # one CloudEvent shed
    growing = verdict.strict_held(10_000, 9_950, 0.3, 0, 2.0)
    assert not growing.held and growing.why_not == ("pending growing 2.0 CloudEvents/s",)


def test_old_definition_called_a_late_p99_held() -> None:
    # Issue 13's example: 25k/s "held" with p50 836 ms and p99 2.5 s.
    assert verdict.old_held(25_000, 24_000, 0.836, 0).held
    strict = verdict.strict_held(25_000, 24_000, 2.5, 0, 0.0)
    assert not strict.held
    assert strict.why_not == ("applied 96.0% < 99%", "tail board-write p99 2500 ms >= 500 ms")


def test_slope_is_least_squares() -> None:
    assert verdict.slope([(0, 5), (1, 5), (2, 5)]) == 0
    assert verdict.slope([(0, 0), (1, 2), (2, 4)]) == 2
    assert verdict.slope([(0, 3)]) == 0
    assert abs(verdict.slope([(0, 0), (1, 3), (2, 1), (3, 4)]) - 1.0) < 1e-9


def _row(t: float, p99: float | None, stale: float = 0, pending: float = 0) -> dict:
    return {"t": t, "board_write_p99": p99, "stale": stale, "pending": pending}


def test_recovery_is_the_start_of_the_last_good_run_after_the_open() -> None:
    timeline = [_row(-1, 5.0), _row(1, 3.0), _row(2, 0.3), _row(3, 1.2), _row(4, 0.4)]
    timeline += [_row(5, None), _row(6, 0.2)]
    assert verdict.recovery_seconds(timeline) == 3.0
    timeline.append(_row(7, 0.2, stale=4))
    assert verdict.recovery_seconds(timeline) is None


def test_open_target_is_every_second_from_0930_05() -> None:
    timeline = [_row(1, 4.0), _row(5, 2.0), _row(6, 0.4), _row(7, None), _row(8, 0.9)]
    met = verdict.open_verdict(timeline)
    assert met["held"] and met["late_seconds"] == [] and met["worst_p99_s"] == 0.9
    late = verdict.open_verdict([*timeline, _row(9, 1.0), _row(10, None, pending=3)])
    assert not late["held"] and late["late_seconds"] == [9, 10]
    shed = verdict.open_verdict([*timeline, _row(9, 0.2, stale=1)])
    assert not shed["held"] and shed["stale_shed"] == 1


def _snapshot(
    at: float, applied: float, writes: dict[float, float], pending: float, stale: float
) -> Snapshot:
    """A merged scrape: applied events, cumulative board-write buckets, pending, stale drops."""
    samples = {
        ("stampede_function_events_applied_total", frozenset({("function", "momentum")})): applied,
        ("stampede_sim_events_sent_total", frozenset()): applied,
        ("stampede_dispatch_consumer_pending", frozenset({("trigger", "momentum")})): pending,
        (
            "stampede_function_dropped_total",
            frozenset({("function", "momentum"), ("reason", "stale")}),
        ): stale,
    }
    total = 0.0
    for le in (*LATENCY_BUCKETS, float("inf")):
        total += writes.get(le, 0.0)
        labels = frozenset({("stage", "board_write"), ("le", str(le))})
        samples[(f"{PIPELINE}_bucket", labels)] = total
    samples[(f"{PIPELINE}_count", frozenset({("stage", "board_write")}))] = total
    return Snapshot(at, samples)


def _window(late_in_tail: bool, pending_step: float = 0.0) -> list[Sample]:
    """60 one-second samples at 10k events/s: 100 writes a second under 100 ms, and in the last
    30 s (when ``late_in_tail``) two of every hundred at 2.5 s."""
    samples, writes = [], {0.1: 0.0, 2.5: 0.0}
    for i in range(61):
        if i:
            writes[0.1] += 98 if late_in_tail and i > 30 else 100
            writes[2.5] += 2 if late_in_tail and i > 30 else 0
        snap = _snapshot(float(i), 10_000.0 * i, dict(writes), i * pending_step, 0)
        samples.append(Sample(float(i), snap, {"redis-server": i * 0.5}, {}, {}))
    return samples


def test_window_verdicts_from_scrapes() -> None:
    calm = window_figures(_window(late_in_tail=False), offered=10_000)
    assert calm["strict"]["held"] and calm["old"]["held"] and calm["held"]
    assert calm["tail_board_write_p99_s"] < 0.1
    assert calm["cpu_percent"]["redis-server"] == 50.0
    late = window_figures(_window(late_in_tail=True), offered=10_000)
    assert late["old"]["held"]  # the median never moved
    assert not late["strict"]["held"] and late["tail_board_write_p99_s"] > 1.0
    backlog = window_figures(_window(late_in_tail=False, pending_step=1.0), offered=10_000)
    assert backlog["lag"]["pending_slope_per_s"] == 1.0 and not backlog["strict"]["held"]
    behind = window_figures(_window(late_in_tail=False), offered=10_200)
    assert behind["strict"]["why_not"] == ["applied 98.0% < 99%"]


def test_per_second_rows_have_offered_applied_latency_shed_and_pending() -> None:
    rows = per_second(_window(late_in_tail=True, pending_step=2.0)[:3], zero=1.0)
    assert [r["t"] for r in rows] == [0.0, 1.0]
    assert rows[0]["offered"] == rows[0]["applied"] == 10_000
    assert rows[1]["pending"] == 4.0 and rows[1]["stale"] == 0
    assert rows[1]["board_write_p99"] is not None and rows[1]["board_write_p99"] <= 0.1


def test_a_sample_missing_a_component_is_not_used_for_rates() -> None:
    window = _window(late_in_tail=False)
    broken = window[10]
    window[10] = Sample(broken.at, Snapshot(broken.at, {}), {}, {}, {"gateway": "timed out"})
    rows = per_second(window[8:13], zero=0.0)
    assert [r["t"] for r in rows] == [9.0, 11.0, 12.0]  # 9 -> 11 is one two-second row
    assert all(r["applied"] == 10_000 for r in rows)
    figures = window_figures(window, offered=10_000)
    assert figures["scrape_errors"] == ["gateway"] and figures["strict"]["held"]


def test_each_restart_is_judged_from_5_s_after_it_until_the_next() -> None:
    late = {3.0, 4.0, 33.0, 36.0, 64.0}  # the start's catch-up; the bridge's; one settled late
    timeline = [_row(float(t), 1.5 if t in late else 0.2) for t in range(1, 90)]
    start, bridge, movers = verdict.restart_verdicts(
        timeline, [("start", 0.0), ("bridge", 30.0), ("function-movers", 60.0)], end_s=90.0
    )
    assert (start["part"], start["held"], start["caught_up_s"]) == ("start", True, 4.0)
    assert (bridge["held"], bridge["late_seconds"], bridge["caught_up_s"]) == (False, [36.0], 6.0)
    assert movers["held"] and movers["caught_up_s"] == 4.0 and movers["worst_p99_s"] == 0.2


def _attack(cut: int = 50, last_cut_s: float | None = 3.0, slow_past: int = 0) -> dict:
    return {
        "flooders": {"count": 50, "cut_off": cut, "cut_off_after_s_max": last_cut_s},
        "slow_headers": {"count": 1000, "open_s_max": 10.2, "open_past_15_s": slow_past},
    }


def test_hostile_needs_every_bound_of_issue_25() -> None:
    good = verdict.hostile_verdict(200, 240, 150, _attack(), 1000, 1000, 0)
    assert good.held, good.why_not
    cases = {
        "honest p99": verdict.hostile_verdict(200, 260, 150, _attack(), 1000, 1000, 0),
        "no latency": verdict.hostile_verdict(None, 240, 150, _attack(), 1000, 1000, 0),
        "RSS": verdict.hostile_verdict(200, 240, 300, _attack(), 1000, 1000, 0),
        "a flooder left": verdict.hostile_verdict(200, 240, 150, _attack(49), 1000, 1000, 0),
        "cut too late": verdict.hostile_verdict(200, 240, 150, _attack(50, 10.5), 1000, 1000, 0),
        "slow headers": verdict.hostile_verdict(200, 240, 150, _attack(slow_past=1), 1000, 1000, 0),
        "over the cap": verdict.hostile_verdict(200, 240, 150, _attack(), 1001, 1000, 0),
        "forged shown": verdict.hostile_verdict(200, 240, 150, _attack(), 1000, 1000, 1),
    }
    for case, v in cases.items():
        assert not v.held and len(v.why_not) == 1, (case, v.why_not)


def _dispatch_sample(at: float, acked: float, pending: float, in_flight: float, redelivered: float):
    def key(name: str, **labels: str):
        return (name, frozenset(labels.items()))

    series = {
        key("stampede_dispatch_deliveries_total", trigger="news-history", outcome="ack"): acked,
        key("stampede_dispatch_consumer_pending", trigger="news-history"): pending,
        key("stampede_dispatch_consumer_ack_pending", trigger="news-history"): in_flight,
        key("stampede_dispatch_consumer_pending", trigger="movers"): 3.0,  # another Trigger
        key("stampede_dispatch_redeliveries_total", trigger="momentum"): redelivered,
    }
    return Sample(at, Snapshot(at, series), {}, {}, {})


def test_news_history_is_caught_up_once_delivered_and_nothing_waits() -> None:
    samples = [
        _dispatch_sample(10.0, 0, 0, 0, 0),  # nothing published yet: not "caught up"
        _dispatch_sample(11.0, 5, 20, 1, 0),
        _dispatch_sample(12.0, 25, 0, 1, 0),  # the last page in flight
        _dispatch_sample(13.0, 26, 0, 0, 2),
    ]
    assert news_history_caught_up(samples, zero=10.0) == 3.0
    assert news_history_caught_up(samples[:3], zero=10.0) is None
    rows = per_second(samples, zero=10.0)
    assert [r["redelivered"] for r in rows] == [0, 0, 2]  # a retry shows in its second


def test_hostile_needs_the_gateway_to_have_cut_every_flooder_the_attacker_saw_closed() -> None:
    seen = _attack(50, 9.3)
    cut_all = {**seen, "flooders": {**seen["flooders"], "gateway_cut": 50}}
    assert verdict.hostile_verdict(200, 240, 150, cut_all, 1000, 1000, 0).held
    left = {**seen, "flooders": {**seen["flooders"], "gateway_cut": 49}}  # one just left
    assert not verdict.hostile_verdict(200, 240, 150, left, 1000, 1000, 0).held
    late = {**cut_all, "flooders": {**cut_all["flooders"], "cut_off_after_s_max": 10.4}}
    assert not verdict.hostile_verdict(200, 240, 150, late, 1000, 1000, 0).held
