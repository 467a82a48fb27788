"""The deployment's promises, checked on what every overlay renders."""

from __future__ import annotations

import re

import pytest
import yaml

from stampede.functions import FUNCTIONS
from support.k8s import MANIFESTS, OVERLAYS, containers, find, one, render


def knative_services(docs):
    return [d for d in find(docs, "Service") if d["apiVersion"].startswith("serving.knative.dev/")]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_bridge_is_one_replica_replaced_not_rolled(overlay: str) -> None:
    bridge = one(render(f"overlays/{overlay}"), "Deployment", "feed-bridge")
    assert bridge["spec"]["replicas"] == 1
    assert bridge["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = containers(bridge)
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert bridge["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 15


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_function_is_a_cluster_local_knative_service_scaling_to_zero(overlay: str) -> None:
    services = {s["metadata"]["name"]: s for s in knative_services(render(f"overlays/{overlay}"))}
    assert set(services) == set(FUNCTIONS)
    for name, service in services.items():
        assert (
            service["metadata"]["labels"]["networking.knative.dev/visibility"] == "cluster-local"
        ), name
        template = service["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["autoscaling.knative.dev/min-scale"] == "0", name
        assert int(annotations["autoscaling.knative.dev/max-scale"]) >= 1, name
        assert int(annotations["autoscaling.knative.dev/target"]) >= 1, name
        assert re.fullmatch(r"\d+[smh]", annotations["autoscaling.knative.dev/scale-down-delay"]), (
            name
        )
        spec = template["spec"]
        assert 1 <= spec["containerConcurrency"] <= 100, name
        assert 1 <= spec["timeoutSeconds"] <= 600, name
        (container,) = spec["containers"]
        assert container["image"].startswith("stampede/functions:"), name
        assert container["args"] == [name]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert (
            container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
        )
        assert container["securityContext"]["runAsNonRoot"] is True
        assert "PORT" not in {e["name"] for e in container.get("env", [])}, "Knative sets PORT"


def trigger_definitions() -> list[dict]:
    text = (MANIFESTS / "base" / "eventing" / "triggers.yaml").read_text()
    return [t for t in yaml.safe_load_all(text) if t]


def test_every_trigger_routes_a_type_to_an_existing_function_on_the_stampede_broker() -> None:
    triggers = trigger_definitions()
    names = {s["metadata"]["name"] for s in knative_services(render("overlays/dev"))}
    assert triggers
    for trigger in triggers:
        spec = trigger["spec"]
        assert spec["broker"] == "stampede"
        ref = spec["subscriber"]["ref"]
        assert (ref["apiVersion"], ref["kind"]) == ("serving.knative.dev/v1", "Service")
        assert ref["name"] in names, (
            f"{trigger['metadata']['name']} -> missing service {ref['name']}"
        )
        filters = spec.get("filter", {}).get("attributes", {}) or {
            k: v for f in spec.get("filters", []) for k, v in f.get("exact", {}).items()
        }
        assert filters.get("type", "").startswith("dev.stampede."), trigger["metadata"]["name"]


def test_the_broker_overlay_applies_the_same_triggers_and_drops_the_dispatcher() -> None:
    docs = render("overlays/eventing-natss")
    applied = {t["metadata"]["name"]: t["spec"] for t in find(docs, "Trigger")}
    assert applied == {t["metadata"]["name"]: t["spec"] for t in trigger_definitions()}
    assert find(docs, "Deployment", "dispatch") == []
    assert one(docs, "Broker", "stampede")["spec"]["delivery"]["deadLetterSink"]
    bridge_env = {
        e["name"]: e.get("value")
        for e in containers(one(docs, "Deployment", "feed-bridge"))[0]["env"]
    }
    assert bridge_env["BRIDGE_CONTENT_MODE"] == "structured"


@pytest.mark.parametrize("overlay", ("dev", "prod"))
def test_the_dispatcher_reads_the_rendered_triggers(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    dispatch = one(docs, "Deployment", "dispatch")
    (container,) = containers(dispatch)
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in dispatch["spec"]["template"]["spec"]["volumes"]}
    configmap = one(docs, "ConfigMap", volumes["triggers"]["configMap"]["name"])
    assert env["DISPATCH_TRIGGERS_PATH"] == f"{mounts['triggers']}/triggers.yaml"
    assert (
        configmap["data"]["triggers.yaml"]
        == (MANIFESTS / "base/eventing/triggers.yaml").read_text()
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_refdata_is_fired_before_the_premarket_in_new_york_time(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    (ping,) = find(docs, "PingSource")
    spec = ping["spec"]
    assert spec["timezone"] == "America/New_York"
    minute, hour, _, _, weekdays = spec["schedule"].split()
    first_hour = int(hour.replace("-", ",").split(",")[0])
    assert first_hour < 4, "must first fire before 04:00 ET"
    assert "-" in hour and int(hour.split("-")[1]) >= 16, (
        "must fire again during the session (reload after a Redis loss)"
    )
    assert weekdays == "1-5"
    assert spec["sink"]["ref"] == {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "name": "refdata",
    }
    assert yaml.safe_load(spec["data"]) == {}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_is_public_and_autoscaled_not_cut_by_knative_timeouts(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    one(docs, "Deployment", "gateway")
    hpa = one(docs, "HorizontalPodAutoscaler", "gateway")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "gateway"
    assert hpa["spec"]["minReplicas"] >= (2 if overlay == "prod" else 1)
    ingress = one(docs, "Ingress", "gateway")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "gateway"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_public_gateway_cannot_start_without_its_token(overlay: str) -> None:
    """Closed by default (issue 25): the token's Secret is required, and nothing turns auth off."""
    (gateway,) = containers(one(render(f"overlays/{overlay}"), "Deployment", "gateway"))
    env = {e["name"]: e for e in gateway["env"]}
    ref = env["GATEWAY_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref.get("optional", False)) == ("gateway-token", False)
    assert "GATEWAY_AUTH" not in env  # its default, required, refuses to start without a token


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_bridge_signs_and_the_scoring_functions_check_with_one_required_secret(
    overlay: str,
) -> None:
    """Only the pipeline writes the boards (issue 25): the bridge's BRIDGE_EVENT_KEY and every
    scoring function's FUNCTION_EVENT_KEY come from the Secret event-key, required. Not on the
    Broker route, whose structured events cannot carry a checkable signature; not refdata,
    whose PingSource cannot sign."""
    docs = render(f"overlays/{overlay}")

    def key_ref(container: dict, name: str) -> tuple[str, str, bool] | None:
        env = {e["name"]: e for e in container.get("env", [])}
        if name not in env:
            return None
        ref = env[name]["valueFrom"]["secretKeyRef"]
        return ref["name"], ref["key"], ref.get("optional", False)

    (bridge,) = containers(one(docs, "Deployment", "feed-bridge"))
    required = ("event-key", "EVENT_KEY", False)
    assert key_ref(bridge, "BRIDGE_EVENT_KEY") == required
    structured = {e["name"]: e.get("value") for e in bridge["env"]}.get("BRIDGE_CONTENT_MODE")
    services = {s["metadata"]["name"]: s for s in knative_services(docs)}
    for name in set(FUNCTIONS) - {"refdata"}:
        (container,) = services[name]["spec"]["template"]["spec"]["containers"]
        expected = None if structured == "structured" else required
        assert key_ref(container, "FUNCTION_EVENT_KEY") == expected, (overlay, name)
    (refdata,) = services["refdata"]["spec"]["template"]["spec"]["containers"]
    assert key_ref(refdata, "FUNCTION_EVENT_KEY") is None
    assert (overlay == "eventing-natss") == (structured == "structured")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_metrics_are_on_its_private_status_port(overlay: str) -> None:
    """The public port (Ingress, NetworkPolicy gateway-public) serves no /metrics (issue 25):
    the container is told its status port, and the ServiceMonitor and probes use it."""
    docs = render(f"overlays/{overlay}")
    (gateway,) = containers(one(docs, "Deployment", "gateway"))
    ports = {p["name"]: p["containerPort"] for p in gateway["ports"]}
    args = gateway["args"]
    assert int(args[args.index("--status-port") + 1]) == ports["status"] != ports["http"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert gateway[probe]["httpGet"]["port"] == "status", probe
    monitor = one(render("monitoring"), "ServiceMonitor", "gateway")
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["status"]
    service = one(docs, "Service", "gateway")
    assert {p["name"]: p["targetPort"] for p in service["spec"]["ports"]}["status"] == "status"
    public = one(docs, "NetworkPolicy", "gateway-public")
    assert [p["port"] for rule in public["spec"]["ingress"] for p in rule["ports"]] == [
        ports["http"]
    ]
    ingress = one(docs, "Ingress", "gateway")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["port"] == {"name": "http"}


def pods_selected(policy: dict, docs) -> set[str]:
    """Names of workloads (Deployments, StatefulSets, Knative Services) a policy selects."""
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    selected = set()
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet") or doc["apiVersion"].startswith(
            "serving.knative.dev/"
        ):
            labels = doc["spec"]["template"]["metadata"].get("labels", {})
            if all(labels.get(k) == v for k, v in wanted.items()):
                selected.add(doc["metadata"]["name"])
    return selected


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_fence_functions_redis_and_nats(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    policies = {p["metadata"]["name"]: p for p in find(docs, "NetworkPolicy")}
    deny = policies["default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and "ingress" not in deny
    assert pods_selected(policies["functions-from-broker"], docs) == set(FUNCTIONS)
    assert pods_selected(policies["redis-from-pipeline"], docs) == {"redis"}
    assert pods_selected(policies["nats-from-pipeline"], docs) == {"nats"}
    (function_rule,) = policies["functions-from-broker"]["spec"]["ingress"]
    namespaces = [
        f["namespaceSelector"]["matchExpressions"][0]["values"]
        for f in function_rule["from"]
        if "namespaceSelector" in f
    ]
    assert namespaces == [["knative-serving", "kourier-system", "knative-eventing"]]
    pod_sources = [
        f["podSelector"]["matchLabels"] for f in function_rule["from"] if "podSelector" in f
    ]
    assert pod_sources == [{"app.kubernetes.io/name": "dispatch"}]
    (redis_rule,) = policies["redis-from-pipeline"]["spec"]["ingress"]
    assert [f["podSelector"]["matchLabels"] for f in redis_rule["from"]] == [
        {"app.kubernetes.io/component": "function"},
        {"app.kubernetes.io/name": "gateway"},
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_runs_non_root_with_probes_and_memory_limits(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")] + knative_services(
        docs
    )
    for doc in workloads:
        pod = doc["spec"]["template"]["spec"]
        for container in pod["containers"]:
            where = f"{doc['kind']}/{doc['metadata']['name']}/{container['name']}"
            context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
            assert context.get("runAsNonRoot") is True, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert container.get("readinessProbe") and container.get("livenessProbe"), where
            assert container["resources"]["limits"]["memory"], where
            assert not container["image"].endswith(":latest") and ":" in container["image"], where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_and_nats_admit_only_the_pipelines_user_from_required_secrets(overlay: str) -> None:
    """Closed by default (issue 25): Redis runs protected with its default user off and the one
    user's password from the Secret redis-auth, NATS requires its user from nats-auth; every
    component that reaches them logs in with the same required Secrets; no password is in a
    ConfigMap or an argument."""
    docs = render(f"overlays/{overlay}")

    def secret_ref(container: dict, name: str) -> tuple[str, str, bool] | None:
        env = {e["name"]: e for e in container.get("env", [])}
        ref = env.get(name, {}).get("valueFrom", {}).get("secretKeyRef")
        return (ref["name"], ref["key"], ref.get("optional", False)) if ref else None

    redis_login = ("redis-auth", "REDIS_PASSWORD", False)
    nats_login = ("nats-auth", "NATS_PASSWORD", False)
    common = next(
        d["data"]
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("stampede-common-")
    )
    assert common["REDIS_USERNAME"] and common["NATS_USER"]
    for service in knative_services(docs):
        (container,) = service["spec"]["template"]["spec"]["containers"]
        assert secret_ref(container, "REDIS_PASSWORD") == redis_login, service["metadata"]["name"]
    (gateway,) = containers(one(docs, "Deployment", "gateway"))
    assert secret_ref(gateway, "REDIS_PASSWORD") == redis_login
    nats_clients = ["feed-bridge"] + (["dispatch"] if overlay != "eventing-natss" else [])
    for name in nats_clients:
        (container,) = containers(one(docs, "Deployment", name))
        assert secret_ref(container, "NATS_PASSWORD") == nats_login, name

    redis = one(docs, "StatefulSet", "redis")
    (server,) = containers(redis)
    (init,) = redis["spec"]["template"]["spec"]["initContainers"]
    assert secret_ref(init, "REDIS_PASSWORD") == redis_login
    assert "user default off" in init["args"][0] and "masterauth" in init["args"][0]
    configs = {
        name: text
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("redis-config-")
        for name, text in d["data"].items()
    }
    base = configs["redis.conf"]
    assert re.search(r"^protected-mode yes$", base, re.M), "protected mode"
    assert re.search(r"^include /run/redis-auth/auth\.conf$", base, re.M)
    for probe in ("readinessProbe", "livenessProbe"):
        assert "REDISCLI_AUTH" in " ".join(server[probe]["exec"]["command"]), probe
    nats = one(docs, "StatefulSet", "nats")
    (nats_server,) = containers(nats)
    assert secret_ref(nats_server, "NATS_PASSWORD") == nats_login
    nats_conf = next(
        d["data"]["nats.conf"]
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("nats-config-")
    )
    assert re.search(r"authorization \{\s*user: \$NATS_USER\s*password: \$NATS_PASSWORD", nats_conf)
    rendered = yaml.safe_dump_all(docs)
    for secret_value in ("REDIS_PASSWORD=", "NATS_PASSWORD="):
        assert secret_value not in rendered  # never a literal in a generator
