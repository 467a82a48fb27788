"""Knative Trigger definitions -> what the dispatcher consumes and where it delivers.

Pure logic (no I/O besides reading the YAML file): parse the Triggers, resolve each
subscriber's URL, map the ``type`` filter to the JetStream stream that carries that type, and
compute retry backoff exactly as Knative does (``backoffDelay * 2^n`` exponential,
``backoffDelay * n`` linear, n = delivery attempts so far).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import TypeAdapter

from stampede.subjects import dlq_subject, route_of_type

log = logging.getLogger(__name__)

TRIGGERS_RELATIVE_PATH = Path("manifests/base/eventing/triggers.yaml")
# Our own Trigger annotation (Knative ignores it): most deliveries of this Trigger in flight at
# once, below DISPATCH_CONCURRENCY, for catch-up work that must not crowd out the live feed.
CONCURRENCY_ANNOTATION = "stampede.dev/delivery-concurrency"
_DURATION = TypeAdapter(timedelta)  # ISO 8601 durations, e.g. PT0.2S


class TriggerError(ValueError):
    """A Trigger the dispatcher cannot honour (bad or unsupported definition)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A Trigger's ``spec.delivery``. Knative's defaults: no retry, no dead letter sink."""

    retry: int = 0
    backoff_policy: Literal["exponential", "linear"] = "exponential"
    backoff_delay: float = 0.0
    dead_letter: bool = False

    def backoff(self, attempts: int) -> float:
        """Seconds to wait before the next attempt after ``attempts`` failed ones (Knative's formula)."""
        if self.backoff_policy == "linear":
            return self.backoff_delay * attempts
        return self.backoff_delay * 2.0**attempts


@dataclass(frozen=True, slots=True)
class Trigger:
    name: str
    event_type: str
    subscriber: str  # the Knative Service (or Trigger) name: metrics label and DLQ subject
    urls: tuple[str, ...]  # the Service's address; locally one per replica (dispatch/balance.py)
    delivery: Delivery = field(default_factory=Delivery)
    other_filters: tuple[tuple[str, str], ...] = ()  # exact matches besides `type`
    concurrency: int | None = None  # its CONCURRENCY_ANNOTATION; None: DISPATCH_CONCURRENCY

    @property
    def url(self) -> str:
        """Where the Trigger delivers, for logs and dead letters: its address or replicas."""
        return "|".join(self.urls)

    @property
    def route(self) -> tuple[str, str] | None:
        """(stream, filter subject) carrying this Trigger's type; None if no stream does."""
        return route_of_type(self.event_type)

    @property
    def stream(self) -> str:
        assert self.route is not None
        return self.route[0]

    @property
    def filter_subject(self) -> str:
        assert self.route is not None
        return self.route[1]

    @property
    def dlq_subject(self) -> str:
        return dlq_subject(self.subscriber)

    def matches(self, attributes: dict[str, Any]) -> bool:
        """Knative's attribute filter beyond the type (which the stream already guarantees)."""
        return all(str(attributes.get(k, "")) == v for k, v in self.other_filters)


def default_triggers_path(package_file: str = __file__) -> Path:
    """The source tree's Trigger file: next to the installed (editable) package, else in cwd."""
    for root in (Path(package_file).resolve().parent.parent, Path.cwd()):
        candidate = root / TRIGGERS_RELATIVE_PATH
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no {TRIGGERS_RELATIVE_PATH} found near the package or in {Path.cwd()}; "
        "set DISPATCH_TRIGGERS_PATH"
    )


def subscriber_urls(
    name: str, namespace: str, overrides: dict[str, str], uri: str | None = None
) -> tuple[str, ...]:
    """Where a subscriber ref lives: an override (``|`` between replicas), else its
    cluster-local Knative URL; each plus the ``uri`` path."""
    bases = overrides.get(name) or f"http://{name}.{namespace}.svc.cluster.local"
    return tuple(
        base + (uri or "/") if not uri or uri.startswith("/") else f"{base}/{uri}"
        for base in bases.split("|")
    )


def _duration(value: str, where: str) -> float:
    try:
        return _DURATION.validate_python(value).total_seconds()
    except ValueError as exc:
        raise TriggerError(f"{where}: backoffDelay {value!r} is not an ISO 8601 duration") from exc


def parse_delivery(spec: dict[str, Any] | None, where: str) -> Delivery:
    spec = spec or {}
    policy = spec.get("backoffPolicy", "exponential")
    if policy not in ("exponential", "linear"):
        raise TriggerError(f"{where}: backoffPolicy must be exponential or linear, not {policy!r}")
    retry = int(spec.get("retry", 0))
    if retry < 0:
        raise TriggerError(f"{where}: retry must be >= 0")
    return Delivery(
        retry=retry,
        backoff_policy=policy,
        backoff_delay=_duration(spec["backoffDelay"], where) if "backoffDelay" in spec else 0.0,
        dead_letter=bool(spec.get("deadLetterSink")),
    )


def parse_trigger(doc: dict[str, Any], namespace: str, overrides: dict[str, str]) -> Trigger:
    name = doc.get("metadata", {}).get("name")
    where = f"Trigger {name!r}"
    if (
        doc.get("apiVersion") != "eventing.knative.dev/v1"
        or doc.get("kind") != "Trigger"
        or not name
    ):
        raise TriggerError(f"{where}: not an eventing.knative.dev/v1 Trigger with a name")
    spec = doc.get("spec") or {}
    if spec.get("filters"):
        raise TriggerError(
            f"{where}: spec.filters (new filters) is not supported; use spec.filter.attributes"
        )
    attributes = {
        k: str(v) for k, v in ((spec.get("filter") or {}).get("attributes") or {}).items()
    }
    event_type = attributes.pop("type", None)
    if not event_type:
        raise TriggerError(
            f"{where}: needs spec.filter.attributes.type (the dispatcher routes by type)"
        )
    subscriber = spec.get("subscriber") or {}
    ref, uri = subscriber.get("ref"), subscriber.get("uri")
    if ref:
        target = ref["name"]
        urls = subscriber_urls(target, ref.get("namespace", namespace), overrides, uri)
    elif uri and "://" in uri:
        target, urls = name, (uri,)
    else:
        raise TriggerError(f"{where}: subscriber needs a ref or an absolute uri")
    annotations = doc["metadata"].get("annotations") or {}
    concurrency = annotations.get(CONCURRENCY_ANNOTATION)
    if concurrency is not None and (not str(concurrency).isdigit() or int(concurrency) < 1):
        raise TriggerError(f"{where}: {CONCURRENCY_ANNOTATION} must be a whole number >= 1")
    return Trigger(
        name=name,
        event_type=event_type,
        subscriber=target,
        urls=urls,
        delivery=parse_delivery(spec.get("delivery"), where),
        other_filters=tuple(sorted(attributes.items())),
        concurrency=None if concurrency is None else int(concurrency),
    )


def load_triggers(path: Path, namespace: str, overrides: dict[str, str]) -> list[Trigger]:
    """Every Trigger in a (multi-document) YAML file; other kinds are ignored."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    triggers = [parse_trigger(d, namespace, overrides) for d in docs if d.get("kind") == "Trigger"]
    names = [t.name for t in triggers]
    if len(set(names)) != len(names):
        raise TriggerError(f"{path}: duplicate Trigger names {names}")
    return triggers


def routable(triggers: list[Trigger]) -> list[Trigger]:
    """The Triggers whose type travels on a JetStream stream (market, news); the others are logged."""
    kept = []
    for trigger in triggers:
        if trigger.route is None:
            log.info(
                "trigger %s: no JetStream stream carries type %s; not dispatched from here",
                trigger.name,
                trigger.event_type,
            )
        else:
            kept.append(trigger)
    return kept
