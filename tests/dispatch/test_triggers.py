"""The Trigger file: valid Knative Triggers, and what the dispatcher makes of them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from stampede.dispatch.consumer import lanes
from stampede.dispatch.settings import DispatchSettings
from stampede.dispatch.triggers import (
    Delivery,
    TriggerError,
    default_triggers_path,
    load_triggers,
    parse_trigger,
    routable,
)
from stampede.events import MARKET_EVENT_TYPES, NEWS_HISTORY_TYPE, NEWS_TYPE, REFDATA_LOAD_TYPE
from stampede.market import Channel

REPO = Path(__file__).resolve().parents[2]
TRIGGERS = REPO / "manifests/base/eventing/triggers.yaml"
SCHEMA = Path("/work/shared/k8s-schemas/eventing.knative.dev/trigger_v1.json")
if not SCHEMA.exists():
    SCHEMA = REPO / "manifests/schemas/eventing.knative.dev/trigger_v1.json"


def documents() -> list[dict]:
    return [d for d in yaml.safe_load_all(TRIGGERS.read_text()) if d]


def test_every_document_is_a_valid_knative_trigger() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)(
        schema
    )
    docs = documents()
    assert [d["kind"] for d in docs] == ["Trigger"] * 8
    for doc in docs:
        assert doc["apiVersion"] == "eventing.knative.dev/v1"
        assert [e.message for e in validator.iter_errors(doc)] == [], doc["metadata"]["name"]
        delivery = doc["spec"]["delivery"]
        assert delivery["backoffPolicy"] == "exponential" and delivery["retry"] >= 1
        assert delivery["deadLetterSink"]["ref"]["name"]


def test_a_schema_violation_is_caught() -> None:
    """The validation above can fail: an unknown delivery field is rejected."""
    schema = json.loads(SCHEMA.read_text())
    bad = documents()[0]
    bad["spec"]["delivery"]["retries"] = 3
    assert list(jsonschema.Draft7Validator(schema).iter_errors(bad))


def test_the_file_routes_each_function_its_type_and_skips_refdata() -> None:
    triggers = load_triggers(TRIGGERS, "stampede", {})
    by_name = {t.name: t for t in triggers}
    assert {n: t.event_type for n, t in by_name.items()} == {
        "movers": MARKET_EVENT_TYPES[Channel.AGGREGATE],
        "momentum": MARKET_EVENT_TYPES[Channel.TRADE],
        "halts": MARKET_EVENT_TYPES[Channel.LULD],
        "bars": MARKET_EVENT_TYPES[Channel.MINUTE_AGGREGATE],
        "bars-halts": MARKET_EVENT_TYPES[Channel.LULD],
        "news": NEWS_TYPE,
        "news-history": NEWS_HISTORY_TYPE,
        "refdata": REFDATA_LOAD_TYPE,
    }
    assert {t.name: (t.stream, t.filter_subject) for t in routable(triggers)} == {
        "movers": ("STOCKS_A", "stampede.stocks.A.>"),
        "momentum": ("STOCKS_T", "stampede.stocks.T.>"),
        "halts": ("STOCKS_LULD", "stampede.stocks.LULD.>"),
        "bars": ("STOCKS_AM", "stampede.stocks.AM.>"),
        "bars-halts": ("STOCKS_LULD", "stampede.stocks.LULD.>"),
        # news has its own stream, not a market channel; the day's history beside it
        "news": ("STAMPEDE_NEWS", "stampede.news.0"),
        "news-history": ("STAMPEDE_NEWS", "stampede.news.history"),
    }
    settings = DispatchSettings(dispatch_concurrency=8)
    # catch-up work gets one lane (its annotation); the live feed the whole DISPATCH_CONCURRENCY
    assert {t.name: lanes(t, settings) for t in routable(triggers)} == {
        "movers": 8,
        "momentum": 8,
        "halts": 8,
        "bars": 8,
        "bars-halts": 8,
        "news": 8,
        "news-history": 1,
    }
    assert by_name["movers"].url == "http://movers.stampede.svc.cluster.local/"
    assert by_name["halts"].dlq_subject == "stampede.dlq.halts"
    assert by_name["momentum"].delivery == Delivery(
        retry=3, backoff_policy="exponential", backoff_delay=0.1, dead_letter=True
    )


def test_subscriber_urls_overrides_and_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "DISPATCH_SUBSCRIBER_URLS", "movers=http://127.0.0.1:8101/, momentum=http://10.0.0.2:9000"
    )
    monkeypatch.setenv("DISPATCH_NAMESPACE", "scanner")
    settings = DispatchSettings()
    urls = {
        t.name: t.url
        for t in load_triggers(
            TRIGGERS, settings.dispatch_namespace, settings.subscriber_overrides()
        )
    }
    assert urls == {
        "movers": "http://127.0.0.1:8101/",
        "momentum": "http://10.0.0.2:9000/",
        "halts": "http://halts.scanner.svc.cluster.local/",
        "bars": "http://bars.scanner.svc.cluster.local/",
        "bars-halts": "http://bars.scanner.svc.cluster.local/",
        "news": "http://news.scanner.svc.cluster.local/",
        "news-history": "http://news.scanner.svc.cluster.local/",
        "refdata": "http://refdata.scanner.svc.cluster.local/",
    }


def test_knative_backoff_formula() -> None:
    exponential = Delivery(retry=3, backoff_policy="exponential", backoff_delay=0.1)
    assert [round(exponential.backoff(n), 6) for n in (1, 2, 3)] == [0.2, 0.4, 0.8]
    linear = Delivery(retry=3, backoff_policy="linear", backoff_delay=0.5)
    assert [linear.backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 1.5]


def _trigger(**spec) -> dict:
    base = {
        "broker": "stampede",
        "filter": {"attributes": {"type": "dev.stampede.stocks.trade.v1"}},
        "subscriber": {
            "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "momentum"}
        },
    }
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": "t"},
        "spec": {**base, **spec},
    }


def test_defaults_extra_filters_and_uri_subscribers() -> None:
    plain = parse_trigger(_trigger(), "stampede", {})
    assert plain.delivery == Delivery()  # Knative: no retry, no dead letter sink unless configured
    filtered = parse_trigger(
        _trigger(filter={"attributes": {"type": "dev.stampede.stocks.trade.v1", "source": "/a"}}),
        "ns",
        {},
    )
    assert filtered.other_filters == (("source", "/a"),)
    assert filtered.matches({"source": "/a"}) and not filtered.matches({"source": "/b"})
    by_uri = parse_trigger(
        _trigger(subscriber={"uri": "http://example.test:8080/events"}), "ns", {}
    )
    assert (by_uri.url, by_uri.subscriber) == ("http://example.test:8080/events", "t")


@pytest.mark.parametrize(
    "spec, problem",
    [
        ({"filter": {}}, "filter.attributes.type"),
        ({"filters": [{"exact": {"type": "x"}}]}, "not supported"),
        ({"delivery": {"backoffDelay": "soon"}}, "ISO 8601"),
        ({"delivery": {"backoffPolicy": "random"}}, "backoffPolicy"),
        ({"subscriber": {"uri": "/relative"}}, "subscriber"),
    ],
)
def test_unsupported_or_broken_triggers_are_refused(spec: dict, problem: str) -> None:
    with pytest.raises(TriggerError, match=problem):
        parse_trigger(_trigger(**spec), "stampede", {})


@pytest.mark.parametrize("value", ["0", "-1", "two", ""])
def test_a_bad_delivery_concurrency_annotation_is_refused(value: str) -> None:
    doc = _trigger()
    doc["metadata"]["annotations"] = {"stampede.dev/delivery-concurrency": value}
    with pytest.raises(TriggerError, match="delivery-concurrency"):
        parse_trigger(doc, "stampede", {})


def test_default_path_is_the_repository_file() -> None:
    assert default_triggers_path() == TRIGGERS


def test_settings_refuse_a_timeout_longer_than_the_ack_wait_and_bad_overrides() -> None:
    with pytest.raises(ValueError, match="ACK_WAIT"):
        DispatchSettings(dispatch_ack_wait=5, dispatch_request_timeout=5)
    with pytest.raises(ValueError, match="NAME=URL"):
        DispatchSettings(dispatch_subscriber_urls="movers")
