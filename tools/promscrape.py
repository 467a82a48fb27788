"""Scrape Prometheus ``/metrics`` pages and compute rates and quantiles from them, like PromQL.

Used by ``stampede top`` and the end-to-end benchmark: both watch running components without a
Prometheus server. Parsing is prometheus-client's own text parser; the maths follows PromQL:

- :func:`rate`: per-second increase of a counter between two scrapes (a counter that went down
  was reset - the process restarted - so, as in Prometheus, the new value is the increase);
- :func:`histogram_quantile`: linear interpolation inside the bucket holding the rank, exactly
  as Prometheus' ``histogram_quantile`` does, over cumulative ``le`` buckets.

Series are addressed by sample name (``foo_total``, ``foo_bucket``) plus a label match; values
of series that match are summed (what ``sum(...)`` would give), so several processes exposing
the same metric (four function services) merge naturally.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]

# Sample names a family of each type exposes (a labelled family with no children yet has none).
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
    "info": ("_info",),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
}


@dataclass(frozen=True)
class Snapshot:
    """The samples of one or more scrapes taken at ``at`` (monotonic seconds)."""

    at: float
    samples: Mapping[tuple[str, Labels], float] = field(default_factory=dict)
    declared: frozenset[str] = frozenset()  # sample names of every family, with or without samples

    @classmethod
    def parse(
        cls, text: str, at: float | None = None, extra: Mapping[str, str] | None = None
    ) -> Snapshot:
        """Parse an exposition page; ``extra`` labels (e.g. the component) are added to every series."""
        samples: dict[tuple[str, Labels], float] = {}
        declared: set[str] = set()
        added = tuple((extra or {}).items())
        for family in text_string_to_metric_families(text):
            declared.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
            for sample in family.samples:
                key = (sample.name, frozenset((*sample.labels.items(), *added)))
                samples[key] = samples.get(key, 0.0) + sample.value
        return cls(time.monotonic() if at is None else at, samples, frozenset(declared))

    @classmethod
    def merge(cls, snapshots: Iterable[Snapshot]) -> Snapshot:
        """One snapshot of several (components scraped in the same round)."""
        merged: dict[tuple[str, Labels], float] = {}
        ats = []
        declared: set[str] = set()
        for snap in snapshots:
            ats.append(snap.at)
            declared |= snap.declared
            for key, value in snap.samples.items():
                merged[key] = merged.get(key, 0.0) + value
        return cls(max(ats, default=time.monotonic()), merged, frozenset(declared))

    def names(self) -> set[str]:
        """Every sample name exposed, including those of families with no series yet."""
        return {name for name, _ in self.samples} | self.declared

    def series(self, name: str, **match: str) -> dict[Labels, float]:
        """Every series of sample ``name`` whose labels include ``match``."""
        wanted = match.items()
        return {
            labels: value
            for (sample, labels), value in self.samples.items()
            if sample == name and all(item in labels for item in wanted)
        }

    def value(self, name: str, **match: str) -> float:
        """Sum of the matching series (0 when there is none)."""
        return sum(self.series(name, **match).values())

    def by(self, name: str, label: str, **match: str) -> dict[str, float]:
        """Sum of the matching series grouped by one label (``sum by (label)``)."""
        out: dict[str, float] = {}
        for labels, value in self.series(name, **match).items():
            key = dict(labels).get(label, "")
            out[key] = out.get(key, 0.0) + value
        return out

    def buckets(self, histogram: str, **match: str) -> list[tuple[float, float]]:
        """Cumulative ``(le, count)`` of a histogram, matching series summed, sorted by ``le``."""
        counts: dict[float, float] = {}
        for labels, value in self.series(f"{histogram}_bucket", **match).items():
            le = float(dict(labels)["le"])
            counts[le] = counts.get(le, 0.0) + value
        return sorted(counts.items())


def increase(before: float, after: float) -> float:
    """Counter increase, treating a decrease as a reset (as Prometheus does)."""
    return after if after < before else after - before


def rate(before: Snapshot, after: Snapshot, name: str, **match: str) -> float:
    """Per-second increase of a counter (summed over matching series) between two snapshots."""
    elapsed = after.at - before.at
    if elapsed <= 0:
        return 0.0
    return increase(before.value(name, **match), after.value(name, **match)) / elapsed


def rates_by(
    before: Snapshot, after: Snapshot, name: str, label: str, **match: str
) -> dict[str, float]:
    """Per-second increase of a counter grouped by one label."""
    elapsed = after.at - before.at
    old, new = before.by(name, label, **match), after.by(name, label, **match)
    if elapsed <= 0:
        return {key: 0.0 for key in new}
    return {key: increase(old.get(key, 0.0), value) / elapsed for key, value in new.items()}


def bucket_increase(
    before: list[tuple[float, float]], after: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Buckets of the observations made between two snapshots (``increase(..._bucket[w])``)."""
    old = dict(before)
    return [(le, increase(old.get(le, 0.0), count)) for le, count in after]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile``: None when there are no observations.

    Linear interpolation within the bucket holding rank ``q * count``; the lowest bucket
    interpolates from 0; a rank in the ``+Inf`` bucket answers the highest finite bound.
    """
    if not buckets or not 0 <= q <= 1:
        return None
    buckets = sorted(buckets)
    if not math.isinf(buckets[-1][0]):
        return None  # not a complete histogram
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for index, (le, count) in enumerate(buckets):
        if count >= rank:
            if math.isinf(le):
                return buckets[index - 1][0] if index > 0 else None
            if index == 0 and le <= 0:
                return le
            if count == lower_count:
                return le
            return lower_bound + (le - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = le, count
    return buckets[-2][0] if len(buckets) > 1 else None


def scrape(
    url: str,
    timeout: float = 2.0,
    client: httpx.Client | None = None,
    extra: Mapping[str, str] | None = None,
) -> Snapshot:
    """One ``/metrics`` page as a snapshot (raises ``httpx.HTTPError`` when it cannot be read)."""
    getter = client.get if client is not None else httpx.get
    answer = getter(url, timeout=timeout, follow_redirects=True)
    answer.raise_for_status()
    return Snapshot.parse(answer.text, extra=extra)


@dataclass
class Round:
    """One scrape of every component: per-component snapshots, their merge and what failed."""

    at: float
    components: dict[str, Snapshot]
    errors: dict[str, str]

    @property
    def merged(self) -> Snapshot:
        return Snapshot.merge(self.components.values())


def scrape_all(
    urls: Mapping[str, str], timeout: float = 2.0, client: httpx.Client | None = None
) -> Round:
    """Scrape every component concurrently; each series gets a ``component`` label."""

    def one(item: tuple[str, str]) -> tuple[str, Snapshot | str]:
        name, url = item
        try:
            return name, scrape(url, timeout, client, extra={"component": name})
        except (httpx.HTTPError, ValueError) as exc:
            return name, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(urls)))) as pool:
        results = list(pool.map(one, urls.items()))
    components = {name: r for name, r in results if isinstance(r, Snapshot)}
    errors = {name: r for name, r in results if isinstance(r, str)}
    return Round(time.monotonic(), components, errors)
