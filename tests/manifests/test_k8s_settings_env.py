"""Every setting a component requires is set in every overlay, and every variable the
manifests set for a component is one it reads (a typo would otherwise be silently ignored:
pydantic-settings ignores unknown variables)."""

from __future__ import annotations

import pytest

from stampede.tools.config_table import SETTINGS_CLASSES, load
from support.k8s import OVERLAYS, containers, find, render

# container name -> key of stampede.tools.config_table.SETTINGS_CLASSES
COMPONENT_OF_CONTAINER = {
    "feed-bridge": "bridge",
    "dispatch": "dispatch",
    "movers": "function",
    "momentum": "function",
    "halts": "function",
    "refdata": "function",
    "bars": "function",
    "gateway": "gateway",
    "simulator": "sim",
}
# Read by the image's entrypoint (the port to listen on), not by the settings class.
RUNTIME_CONTRACT = {"PORT"}


def workloads(docs):
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet") or doc["apiVersion"].startswith(
            "serving.knative.dev/"
        ):
            for container in containers(doc):
                if container["name"] in COMPONENT_OF_CONTAINER:
                    yield doc, container


def environment(container: dict, docs) -> tuple[set[str], set[str]]:
    """(all variables the container gets, the ones set explicitly in its own env list)."""
    explicit = {e["name"] for e in container.get("env", [])}
    shared: set[str] = set()
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        (configmap,) = [c for c in find(docs, "ConfigMap") if c["metadata"]["name"] == name]
        shared |= set(configmap["data"])
    return explicit | shared, explicit


def settings_vars(component: str) -> tuple[set[str], set[str]]:
    """(every variable the component reads, the required ones: no default)."""
    fields = load(SETTINGS_CLASSES[component]).model_fields
    return {n.upper() for n in fields}, {n.upper() for n, f in fields.items() if f.is_required()}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_required_settings_are_set_and_explicit_ones_exist(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    seen = set()
    for doc, container in workloads(docs):
        component = COMPONENT_OF_CONTAINER[container["name"]]
        seen.add(container["name"])
        known, required = settings_vars(component)
        everything, explicit = environment(container, docs)
        where = f"{overlay}: {doc['kind']}/{doc['metadata']['name']}"
        assert required <= everything, f"{where} lacks required {sorted(required - everything)}"
        unknown = explicit - known - RUNTIME_CONTRACT
        assert not unknown, f"{where} sets variables {component} does not read: {sorted(unknown)}"
    expected = set(COMPONENT_OF_CONTAINER) - ({"simulator"} if overlay == "prod" else set())
    expected -= {"dispatch"} if overlay == "eventing-natss" else set()
    assert seen == expected


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_api_key_comes_from_a_secret_never_a_literal(overlay: str) -> None:
    for _doc, container in workloads(render(f"overlays/{overlay}")):
        for env in container.get("env", []):
            if env["name"] == "MASSIVE_API_KEY":
                assert "value" not in env
                assert env["valueFrom"]["secretKeyRef"]["key"] == "MASSIVE_API_KEY"
                assert env["valueFrom"]["secretKeyRef"]["name"].startswith("massive-api")


def test_the_shared_settings_are_read_by_every_component() -> None:
    docs = render("overlays/dev")
    (common,) = [
        c for c in find(docs, "ConfigMap") if c["metadata"]["name"].startswith("stampede-common")
    ]
    for component in SETTINGS_CLASSES:
        known, _ = settings_vars(component)
        # the stores' addresses and users are read by those that connect to them
        shared = set(common["data"]) - {"NATS_URL", "REDIS_URL", "NATS_USER", "REDIS_USERNAME"}
        assert shared <= known, f"{component} ignores {shared - known}"
    for setting in ("NATS_URL", "NATS_USER", "NATS_PASSWORD"):
        readers = {c for c in SETTINGS_CLASSES if setting in settings_vars(c)[0]}
        assert {"bridge", "dispatch"} <= readers, setting
    for setting in ("REDIS_URL", "REDIS_USERNAME", "REDIS_PASSWORD"):
        readers = {c for c in SETTINGS_CLASSES if setting in settings_vars(c)[0]}
        assert {"function", "gateway"} <= readers, setting
