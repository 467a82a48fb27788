"""Figures of a measurement window from the sampler's scrapes: pure functions, no I/O.

A :class:`Sample` is one scrape round of every component's ``/metrics`` plus CPU time and RSS
of every process. From the first and last sample of a window come PromQL-like figures: counter
increase / elapsed for throughput, ``histogram_quantile`` over bucket increases for latency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from stampede import metricnames as names
from stampede.tools.bench import verdict
from stampede.tools.bench.verdict import Doc
from stampede.tools.promscrape import Snapshot, bucket_increase, histogram_quantile, rate, rates_by
from stampede.tools.top import DROPS

PIPELINE = names.PIPELINE_LATENCY
EXCHANGE = names.EXCHANGE_LATENCY
PENDING = names.DISPATCH_CONSUMER_PENDING
STALE = (names.FUNCTION_DROPPED, {"reason": "stale"})
REDELIVERIES = "stampede_dispatch_redeliveries_total"
NEWS_HISTORY = "news-history"  # the Trigger of the day's news so far (triggers.yaml)
LATENCY_STAGES = tuple(stage.value for stage in names.Stage)
BOARD_WRITE = names.Stage.BOARD_WRITE.value
# Throughput per stage: (key, counter, fixed labels). Events except where the name says otherwise.
THROUGHPUT: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("sim_sent", names.SIM_EVENTS_SENT, {}),
    ("bridge_in", names.BRIDGE_EVENTS, {}),
    ("bridge_published", names.BRIDGE_PUBLISHED_EVENTS, {}),
    ("bridge_cloudevents", names.BRIDGE_CLOUDEVENTS_PUBLISHED, {}),
    ("dispatch_delivered_cloudevents", names.DISPATCH_DELIVERIES, {"outcome": "ack"}),
    ("functions_applied", names.FUNCTION_EVENTS_APPLIED, {}),
    ("functions_applied_cloudevents", names.FUNCTION_BATCHES, {"outcome": "applied"}),
    ("gateway_ticks", names.GATEWAY_TICKS, {}),
    ("gateway_diffs", names.GATEWAY_DIFFS_SENT, {}),
)
STRICT_TAIL_SHARE = 0.5  # the strict p99 is over the last 30 s of a 60 s window
OLD_TAIL_SHARE = 1 / 3  # the old p50 was over the last third


@dataclass
class Sample:
    at: float  # monotonic seconds
    metrics: Snapshot
    cpu_seconds: dict[str, float]
    rss_bytes: dict[str, float]
    errors: dict[str, str]


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """p50/p95/p99 (nearest rank) of raw values, e.g. latencies a client measured itself."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"n": len(ordered), "p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99)}


def latency(
    first: Snapshot, last: Snapshot, histogram: str, **match: str
) -> dict[str, float | None]:
    """p50/p95/p99 (seconds) and count of the observations made between two snapshots."""
    return quantiles(first.buckets(histogram, **match), last.buckets(histogram, **match))


def family_of(component: str) -> str:
    """Which event family a component's board writes serve: news articles and reference loads
    are catch-up work with their own figures; every other board write is market data."""
    for family, function in (("news", "function-news"), ("reference", "function-refdata")):
        if component == function or component.startswith(function + "-"):
            return family
    return "market"


def family_buckets(snapshot: Snapshot, family: str) -> list[tuple[float, float]]:
    """Cumulative board-write latency buckets of one event family's components."""
    counts: dict[float, float] = {}
    for labels, value in snapshot.series(f"{PIPELINE}_bucket", stage=BOARD_WRITE).items():
        found = dict(labels)
        if family_of(found.get("component", "")) == family:
            le = float(found["le"])
            counts[le] = counts.get(le, 0.0) + value
    return sorted(counts.items())


def board_write(first: Snapshot, last: Snapshot, family: str = "market") -> dict[str, float | None]:
    """Board-write latency of one event family between two snapshots. The verdicts are on
    market data: a morning's news caught up at a midday start is not a late board."""
    return quantiles(family_buckets(first, family), family_buckets(last, family))


def quantiles(
    before: list[tuple[float, float]], after: list[tuple[float, float]]
) -> dict[str, float | None]:
    recent = bucket_increase(before, after)
    count = recent[-1][1] if recent else 0.0
    out: dict[str, float | None] = {"n": count}
    for q in (0.5, 0.95, 0.99):
        value = histogram_quantile(q, recent) if count else None
        out[f"p{round(q * 100)}"] = None if value is None else round(value, 4)
    return out


def pending_total(snapshot: Snapshot) -> float:
    """CloudEvents waiting in every dispatch consumer."""
    return sum(snapshot.by(PENDING, "trigger").values())


def stale_between(a: Snapshot, b: Snapshot) -> float:
    name, labels = STALE
    return b.value(name, **labels) - a.value(name, **labels)


def tail(samples: Sequence[Sample], share: float) -> list[Sample]:
    """The samples of the last ``share`` of the window."""
    elapsed = samples[-1].at - samples[0].at
    return [s for s in samples if s.at >= samples[-1].at - elapsed * share]


def complete(samples: Sequence[Sample]) -> list[Sample]:
    """The samples in which every component answered (all of them if none did): a component
    missing from one would make its counters look reset, and its rates jump."""
    whole = [s for s in samples if not s.errors]
    return whole if len(whole) > 1 else list(samples)


def window_figures(samples: Sequence[Sample], offered: float | None = None) -> Doc:
    """Throughput, latency, drops, lag, resources and both held verdicts over a window."""
    scrape_errors = sorted({k for s in samples for k in s.errors})
    samples = complete(samples)
    first, last = samples[0], samples[-1]
    a, b = first.metrics, last.metrics
    elapsed = last.at - first.at
    figures: Doc = {"seconds": round(elapsed, 1), "offered_events_per_s": offered}
    figures["throughput_per_s"] = {
        key: round(rate(a, b, counter, **labels), 1) for key, counter, labels in THROUGHPUT
    }
    deliveries = rates_by(a, b, names.DISPATCH_REPLICA_DELIVERIES, "replica")
    # CloudEvents each function replica took, by its URL (each one's share of the work)
    figures["deliveries_per_s_by_url"] = {url: round(v, 1) for url, v in deliveries.items()}
    figures["applied_per_s_by_function"] = {
        k: round(v, 1) for k, v in rates_by(a, b, names.FUNCTION_EVENTS_APPLIED, "function").items()
    }
    figures["latency_s"] = {
        kind: {
            stage: latency(a, b, hist, stage=stage)
            for stage in LATENCY_STAGES
            if b.series(f"{hist}_count", stage=stage)
        }
        for kind, hist in (("pipeline", PIPELINE), ("exchange", EXCHANGE))
    }
    figures["latency_s"]["board_write_by_family"] = {
        family: board_write(a, b, family) for family in ("market", "news", "reference")
    }
    figures["latency_s"]["redis_apply"] = {
        fn: latency(a, b, names.FUNCTION_REDIS_APPLY, function=fn)
        for fn in b.by(f"{names.FUNCTION_REDIS_APPLY}_count", "function")
    }
    figures["latency_s"]["dispatch_http"] = {
        trig: latency(a, b, "http_client_request_duration_seconds", trigger=trig)
        for trig in b.by("http_client_request_duration_seconds_count", "trigger")
    }
    figures["drops"] = _drops(a, b)
    figures["lag"] = {
        "consumer_pending_end": b.by(PENDING, "trigger"),
        "consumer_pending_max": _max_by(samples, PENDING, "trigger"),
        "pending_slope_per_s": round(
            verdict.slope([(s.at, pending_total(s.metrics)) for s in samples]), 2
        ),
        "bridge_queue_frames_max": max(s.metrics.value(names.BRIDGE_QUEUE_DEPTH) for s in samples),
    }
    figures["cpu_percent"] = {
        name: round((last.cpu_seconds[name] - first.cpu_seconds.get(name, 0.0)) / elapsed * 100, 1)
        for name in last.cpu_seconds
        if elapsed > 0
    }
    figures["cpu_percent_total"] = round(sum(figures["cpu_percent"].values()), 1)
    figures["gateway"] = gateway_cost(
        figures["cpu_percent"].get("gateway"),
        rate(a, b, names.GATEWAY_TICKS),
        rate(a, b, names.GATEWAY_CHANGED_ROWS),
    )
    figures["rss_mb_max"] = {
        name: round(max(s.rss_bytes.get(name, 0.0) for s in samples) / 2**20, 1)
        for name in last.rss_bytes
    }
    strict_tail, old_tail = tail(samples, STRICT_TAIL_SHARE), tail(samples, OLD_TAIL_SHARE)
    figures["tail_board_write_p99_s"] = board_write(strict_tail[0].metrics, b)["p99"]
    figures["tail_board_write_p50_s"] = board_write(old_tail[0].metrics, b)["p50"]
    figures["stale_shed"] = stale_between(a, b)
    figures["scrape_errors"] = scrape_errors
    if offered is not None:
        figures.update(verdicts(figures))
    return figures


def verdicts(figures: Doc) -> Doc:
    """The strict and the old held verdicts of a window's figures."""
    offered = figures["offered_events_per_s"] or 0
    applied = figures["throughput_per_s"]["functions_applied"]
    strict = verdict.strict_held(
        offered,
        applied,
        figures["tail_board_write_p99_s"],
        figures["stale_shed"],
        figures["lag"]["pending_slope_per_s"],
    )
    old = verdict.old_held(
        offered, applied, figures["tail_board_write_p50_s"], figures["stale_shed"]
    )
    return {"held": strict.held, "strict": strict.as_json(), "old": old.as_json()}


def gateway_cost(cpu_percent: float | None, ticks_per_s: float, rows_per_s: float) -> Doc:
    """The gateway's CPU per tick and per changed row (issue 22: its cost must follow the
    changes, not the shards): its process's CPU over its ticks and over the rows its diffs
    changed, in microseconds."""

    def per(rate_: float) -> float | None:
        return round(cpu_percent / 100 / rate_ * 1e6, 1) if cpu_percent and rate_ > 0 else None

    return {
        "ticks_per_s": round(ticks_per_s, 1),
        "changed_rows_per_s": round(rows_per_s, 1),
        "cpu_us_per_tick": per(ticks_per_s),
        "cpu_us_per_changed_row": per(rows_per_s),
    }


def _drops(a: Snapshot, b: Snapshot) -> dict[str, dict[str, float]]:
    drops: dict[str, dict[str, float]] = {}
    for title, counter, label, match in DROPS:
        before, after = a.by(counter, label, **dict(match)), b.by(counter, label, **dict(match))
        grown = {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}
        if grown:
            drops[title] = grown
    return drops


def _max_by(samples: Sequence[Sample], gauge: str, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in samples:
        for key, value in s.metrics.by(gauge, label).items():
            out[key] = max(out.get(key, 0.0), value)
    return out


def per_second(samples: Sequence[Sample], zero: float) -> list[Doc]:
    """One row per scrape interval (of complete samples), timed from ``zero`` (the open):
    offered (sent by the simulator), applied, board-write p50/p99, CloudEvents shed stale,
    consumer pending."""
    out = []
    for a, b in pairwise(complete(samples)):
        p = board_write(a.metrics, b.metrics)
        out.append(
            {
                "t": round(b.at - zero, 1),
                "offered": round(rate(a.metrics, b.metrics, names.SIM_EVENTS_SENT)),
                "bridge_in": round(rate(a.metrics, b.metrics, names.BRIDGE_EVENTS)),
                "applied": round(rate(a.metrics, b.metrics, names.FUNCTION_EVENTS_APPLIED)),
                "board_write_p50": p["p50"],
                "board_write_p99": p["p99"],
                "pending": pending_total(b.metrics),
                "stale": stale_between(a.metrics, b.metrics),
                # deliveries JetStream had made before (a retry, an ack wait run out): a
                # second made late by one shows it here
                "redelivered": round(b.metrics.value(REDELIVERIES) - a.metrics.value(REDELIVERIES)),
            }
        )
    return out


def news_history_caught_up(samples: Sequence[Sample], zero: float) -> float | None:
    """Seconds from ``zero`` until the day's news so far was on the news board: the
    ``news-history`` Trigger had delivered pages and none was waiting or in flight."""
    for s in complete(samples):
        m = s.metrics
        delivered = m.value(names.DISPATCH_DELIVERIES, trigger=NEWS_HISTORY, outcome="ack")
        waiting = m.value(PENDING, trigger=NEWS_HISTORY) + m.value(
            names.DISPATCH_CONSUMER_ACK_PENDING, trigger=NEWS_HISTORY
        )
        if delivered > 0 and waiting == 0:
            return round(s.at - zero, 1)
    return None
