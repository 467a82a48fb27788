"""`stampede top`: the pipeline at a glance in a terminal, from each component's ``/metrics``.

Reads ``<workdir>/status.json`` (written by ``stampede up``), scrapes every component listed
there once a second and prints, per stage in data-flow order, the rate of what passes through
it, the consumer lag, drops by reason and latency percentiles. Rates are per second over the
last refresh; percentiles are over the observations of the last ``--window`` seconds (as
``histogram_quantile(q, rate(..._bucket[window]))`` would give), "-" when nothing was observed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import httpx

from stampede import metricnames as names
from stampede.tools.promscrape import (
    Round,
    Snapshot,
    bucket_increase,
    histogram_quantile,
    rate,
    rates_by,
    scrape_all,
)


@dataclass(frozen=True)
class Stage:
    """One line of the rates table: a counter, optionally split by one label."""

    title: str
    counter: str
    split: str | None = None
    match: tuple[tuple[str, str], ...] = ()


# Data-flow order: Massive (simulated) -> bridge -> JetStream -> dispatch -> functions -> gateway.
STAGES = (
    Stage("sim frames sent", names.SIM_FRAMES_SENT),
    Stage("bridge frames read", names.BRIDGE_FRAMES_RECEIVED),
    Stage("bridge events in", names.BRIDGE_EVENTS, "channel"),
    Stage("bridge events published", names.BRIDGE_PUBLISHED_EVENTS, "channel"),
    Stage("bridge CloudEvents published", names.BRIDGE_CLOUDEVENTS_PUBLISHED, "channel"),
    Stage(
        "dispatch CloudEvents delivered",
        names.DISPATCH_DELIVERIES,
        "trigger",
        (("outcome", "ack"),),
    ),
    Stage("function events applied", names.FUNCTION_EVENTS_APPLIED, "function"),
    Stage(
        "function CloudEvents applied",
        names.FUNCTION_BATCHES,
        "function",
        (("outcome", "applied"),),
    ),
    Stage("gateway ticks", names.GATEWAY_TICKS),
    Stage("gateway diffs sent", names.GATEWAY_DIFFS_SENT),
    Stage("gateway bytes sent", names.GATEWAY_SENT_BYTES),
)

# Drop counters: (what, counter, label holding the reason, fixed match).
DROPS = (
    ("bridge frames", names.BRIDGE_DROPPED_FRAMES, "reason", ()),
    ("bridge events", names.BRIDGE_DROPPED_EVENTS, "reason", ()),
    ("function CloudEvents", names.FUNCTION_DROPPED, "reason", ()),
    (
        "dispatch dead-lettered",
        names.DISPATCH_DELIVERIES,
        "trigger",
        (("outcome", "dlq"),),
    ),
    (
        "dispatch terminated",
        names.DISPATCH_DELIVERIES,
        "trigger",
        (("outcome", "term"),),
    ),
    ("dispatch retried", names.DISPATCH_DELIVERIES, "trigger", (("outcome", "nak"),)),
)

# Latency histograms: (title, histogram, label to split on or None).
LATENCIES = (
    ("pipeline (from bridge read)", names.PIPELINE_LATENCY, "stage"),
    ("exchange (from event time)", names.EXCHANGE_LATENCY, "stage"),
    ("bridge publish -> ack", names.BRIDGE_PUBLISH_LATENCY, None),
    ("dispatch HTTP delivery", "http_client_request_duration_seconds", "trigger"),
    ("function Redis apply", names.FUNCTION_REDIS_APPLY, "function"),
    ("gateway tick", names.GATEWAY_TICK_DURATION, None),
)

STAGE_ORDER = tuple(stage.value for stage in names.Stage)


def load_status(path: Path) -> dict[str, str]:
    """Component name -> metrics URL, from ``stampede up``'s status.json."""
    status = json.loads(path.read_text())
    return dict(status["metrics"])


def _fmt_rate(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:,.1f}k"
    return f"{value:,.1f}"


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.1f}ms"
    return f"{value:.2f}s"


def _label_values(snap: Snapshot, histogram: str, label: str) -> list[str]:
    values = set(snap.by(f"{histogram}_count", label))
    ordered = [v for v in STAGE_ORDER if v in values]
    return ordered + sorted(values - set(ordered))


def render(window: list[Round], errors: dict[str, str] | None = None) -> str:
    """The screen for a run of scrape rounds (oldest first; rates use the last two)."""
    if len(window) < 2:
        return "stampede top: waiting for a second scrape..."
    before, after = window[-2].merged, window[-1].merged
    oldest = window[0].merged
    lines = [f"stampede top  {time.strftime('%H:%M:%S')}  window {after.at - oldest.at:.0f}s", ""]

    lines.append(f"{'RATES /s':<32}{'total':>10}   by")
    for stage in STAGES:
        match = dict(stage.match)
        if not after.series(stage.counter, **match):
            continue
        total = rate(before, after, stage.counter, **match)
        split = ""
        if stage.split:
            parts = rates_by(before, after, stage.counter, stage.split, **match)
            split = "  ".join(
                f"{k}={_fmt_rate(v)}" for k, v in sorted(parts.items()) if v or total == 0
            )
        lines.append(f"  {stage.title:<30}{_fmt_rate(total):>10}   {split}")

    lines += ["", "LAG"]
    for trigger, pending in sorted(after.by(names.DISPATCH_CONSUMER_PENDING, "trigger").items()):
        ack = after.value(names.DISPATCH_CONSUMER_ACK_PENDING, trigger=trigger)
        lines.append(f"  dispatch {trigger:<21}pending {pending:>8.0f}   ack pending {ack:>6.0f}")
    if after.series(names.BRIDGE_QUEUE_DEPTH):
        lines.append(
            f"  bridge queue {after.value('stampede_bridge_queue_depth_frames'):>17.0f} frames   "
            f"unacked publishes {after.value('stampede_bridge_unacked_publishes'):.0f}"
        )

    lines += ["", f"{'DROPS':<32}{'/s':>10}   total by reason"]
    for title, counter, reason, fixed in DROPS:
        totals = after.by(counter, reason, **dict(fixed))
        if not totals:
            continue
        per_second = rate(before, after, counter, **dict(fixed))
        reasons = "  ".join(f"{k}={v:.0f}" for k, v in sorted(totals.items()) if v)
        lines.append(f"  {title:<30}{_fmt_rate(per_second):>10}   {reasons or '0'}")

    lines += ["", f"{'LATENCY':<44}{'p50':>10}{'p99':>10}{'n':>8}"]
    for title, histogram, split_on in LATENCIES:
        keys = _label_values(after, histogram, split_on) if split_on else [None]
        for key in keys:
            match = {split_on: key} if split_on and key is not None else {}
            recent = bucket_increase(
                oldest.buckets(histogram, **match), after.buckets(histogram, **match)
            )
            if not recent:
                continue
            count = recent[-1][1]
            name = f"{title} {key}" if key is not None else title
            lines.append(
                f"  {name:<42}{_fmt_seconds(histogram_quantile(0.5, recent)):>10}"
                f"{_fmt_seconds(histogram_quantile(0.99, recent)):>10}{count:>8.0f}"
            )

    clients = after.value(names.GATEWAY_CLIENTS)
    lines += ["", f"gateway clients {clients:.0f}"]
    for name, problem in sorted((errors or {}).items()):
        lines.append(f"! {name}: {problem}")
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stampede top",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--status",
        default=".stampede/status.json",
        help="status.json written by `stampede up` (default .stampede/status.json)",
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between scrapes (default 1)"
    )
    parser.add_argument(
        "--window",
        type=float,
        default=10.0,
        help="seconds of observations behind the percentiles (default 10)",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=0,
        help="stop after this many screens (default 0: until Ctrl-C)",
    )
    parser.add_argument(
        "--no-clear", action="store_true", help="print screens one after another (for logs)"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    status_path = Path(args.status)
    try:
        urls = load_status(status_path)
    except (OSError, ValueError, KeyError) as exc:
        print(
            f"stampede top: cannot read {status_path} ({exc}); is `stampede up` running?",
            file=sys.stderr,
        )
        return 2
    keep = max(2, int(args.window / args.interval) + 1)
    rounds: deque[Round] = deque(maxlen=keep)
    shown = 0
    try:
        with httpx.Client() as client:
            while True:
                started = time.monotonic()
                current = scrape_all(urls, timeout=max(0.2, args.interval * 0.8), client=client)
                rounds.append(current)
                if len(rounds) >= 2:
                    screen = render(list(rounds), current.errors)
                    prefix = "" if args.no_clear else "\x1b[H\x1b[2J"
                    print(prefix + screen, flush=True)
                    shown += 1
                    if args.count and shown >= args.count:
                        return 0
                time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        return 0
