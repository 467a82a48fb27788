"""Every overlay renders, parses and validates (core kinds and CRDs) without a cluster."""

from __future__ import annotations

import pytest
import yaml

from stampede.market import Channel
from stampede.subjects import NEWS_STREAM, stream_name
from support.k8s import MANIFESTS, OVERLAYS, SCHEMAS, crd_validator, find, one, render, validate

TREES = (*OVERLAYS, "monitoring")


@pytest.mark.parametrize("tree", TREES)
def test_tree_renders_and_every_document_validates(tree: str) -> None:
    docs = render(f"overlays/{tree}" if tree in OVERLAYS else tree)
    assert docs, f"{tree} rendered nothing"
    problems = {f"{d['kind']}/{d['metadata']['name']}": validate(d) for d in docs}
    assert {k: v for k, v in problems.items() if v} == {}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_the_stampede_namespace(overlay: str) -> None:
    cluster_scoped = {"Namespace"}
    misplaced = [
        f"{d['kind']}/{d['metadata']['name']}"
        for d in render(f"overlays/{overlay}")
        if d["kind"] not in cluster_scoped and d["metadata"].get("namespace") != "stampede"
    ]
    assert misplaced == []


def test_the_validator_rejects_a_broken_knative_service() -> None:
    """The CRD check can fail: an unknown field and a wrong type are reported."""
    service = one(render("overlays/dev"), "Service", "movers")
    broken = yaml.safe_load(yaml.safe_dump(service))
    broken["spec"]["template"]["spec"]["containerConcurrency"] = "twenty"
    broken["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = "Always"
    problems = validate(broken)
    assert any("containerConcurrency" in p for p in problems)
    assert any("imagePolicy" in p for p in problems)


def test_the_validator_rejects_a_broken_core_kind_and_unknown_kinds() -> None:
    bridge = yaml.safe_load(
        yaml.safe_dump(one(render("overlays/dev"), "Deployment", "feed-bridge"))
    )
    bridge["spec"]["replicas"] = "one"
    assert validate(bridge)
    assert validate({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_trigger_definitions_dispatch_reads_are_valid_triggers(overlay: str) -> None:
    """The stampede-triggers ConfigMap carries the same Trigger YAML, valid as Triggers."""
    configmaps = [
        c
        for c in find(render(f"overlays/{overlay}"), "ConfigMap")
        if c["metadata"]["name"].startswith("stampede-triggers")
    ]
    if overlay == "eventing-natss":
        assert configmaps == []  # the Broker routes; the dispatcher and its config are gone
        return
    (configmap,) = configmaps
    triggers = [t for t in yaml.safe_load_all(configmap["data"]["triggers.yaml"]) if t]
    assert triggers and all(t["kind"] == "Trigger" for t in triggers)
    validator = crd_validator(SCHEMAS / "eventing.knative.dev" / "trigger_v1.json")
    assert [e.message for t in triggers for e in validator.iter_errors(t)] == []


def test_the_broker_channel_template_is_a_valid_natsjetstreamchannel() -> None:
    docs = render("overlays/eventing-natss")
    broker = one(docs, "Broker", "stampede")
    config = broker["spec"]["config"]
    template_map = one(docs, "ConfigMap", config["name"])
    template = yaml.safe_load(template_map["data"]["channelTemplateSpec"])
    assert template["kind"] == "NatsJetStreamChannel"
    channel = {**template, "metadata": {"name": "stampede-kne-trigger", "namespace": "stampede"}}
    validator = crd_validator(
        SCHEMAS / "messaging.knative.dev" / "natsjetstreamchannel_v1alpha1.json"
    )
    assert [e.message for e in validator.iter_errors(channel)] == []
    sources = {s["name"] for s in template["spec"]["stream"]["config"]["sources"]}
    assert sources == {stream_name(channel) for channel in Channel} | {NEWS_STREAM}


def test_the_secret_template_is_valid_and_holds_no_key() -> None:
    (secret,) = list(
        yaml.safe_load_all((MANIFESTS / "secret-template" / "massive-api.yaml").read_text())
    )
    assert validate(secret) == []
    assert secret["stringData"] == {"MASSIVE_API_KEY": ""}
    bridge = one(render("overlays/prod"), "Deployment", "feed-bridge")
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in bridge["spec"]["template"]["spec"]["containers"][0]["env"]
        if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
    }
    # the Massive key, its signing key, its NATS login
    assert refs == {secret["metadata"]["name"], "event-key", "nats-auth"}
