"""The prod overlay's clustered NATS: three routed JetStream nodes, checked offline.

What is rendered must be what the real nats-server accepts (``nats-server -t`` parses the
rendered ConfigMap as the pod would mount it), every pod must route to every other one, and the
stream replica counts the pipeline asks for must fit the cluster.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from stampede.tools.localstack import server_binary
from support.k8s import containers, one, render


def _common(docs) -> dict[str, str]:
    return one(docs, "ConfigMap", _generated(docs, "stampede-common"))["data"]


def _generated(docs, prefix: str) -> str:
    """The hashed name kustomize gave a generated ConfigMap."""
    (name,) = {
        d["metadata"]["name"]
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(prefix + "-")
    }
    return name


def test_prod_nats_is_three_routed_pods_started_together() -> None:
    docs = render("overlays/prod")
    nats = one(docs, "StatefulSet", "nats")
    spec = nats["spec"]
    replicas = spec["replicas"]
    assert replicas == 3 and spec["podManagementPolicy"] == "Parallel"
    (container,) = containers(nats)
    assert container["args"] == ["--config", "/etc/nats/nats-cluster.conf"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["cluster"] == 6222
    config = one(docs, "ConfigMap", _generated(docs, "nats-config"))["data"]
    routes = re.findall(r"nats://(\S+):6222", config["nats-cluster.conf"])
    headless = spec["serviceName"]
    assert routes == [f"nats-{i}.{headless}" for i in range(replicas)]
    service = one(docs, "Service", headless)
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]}["cluster"] == 6222
    assert service["spec"]["publishNotReadyAddresses"] is True  # routes before readiness
    spread = spec["template"]["spec"]["topologySpreadConstraints"]
    assert spread[0]["topologyKey"] == "kubernetes.io/hostname"
    assert one(docs, "PodDisruptionBudget", "nats")["spec"]["maxUnavailable"] == 1
    (rule,) = one(docs, "NetworkPolicy", "nats-routes")["spec"]["ingress"]
    assert rule["ports"] == [{"port": 6222, "protocol": "TCP"}]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "nats"}}}]


def test_prod_clients_know_every_node_and_replicas_fit_the_cluster() -> None:
    docs = render("overlays/prod")
    replicas = one(docs, "StatefulSet", "nats")["spec"]["replicas"]
    common = _common(docs)
    servers = common["NATS_URL"].split(",")
    assert servers == [f"nats://nats-{i}.nats-headless:4222" for i in range(replicas)]
    for setting in ("BRIDGE_STREAM_REPLICAS", "DLQ_REPLICAS"):
        assert int(common[setting]) == replicas, setting
    # Single-node overlays keep R1: a replica count above the node count cannot be placed.
    for overlay in ("dev", "eventing-natss"):
        dev = render(f"overlays/{overlay}")
        assert one(dev, "StatefulSet", "nats")["spec"].get("replicas", 1) == 1
        assert "BRIDGE_STREAM_REPLICAS" not in _common(dev)


@pytest.mark.parametrize("overlay", ("dev", "prod"))
def test_nats_server_accepts_the_rendered_config(overlay: str, tmp_path: Path) -> None:
    docs = render(f"overlays/{overlay}")
    nats = one(docs, "StatefulSet", "nats")
    (container,) = containers(nats)
    config = one(docs, "ConfigMap", _generated(docs, "nats-config"))["data"]
    for name, text in config.items():
        (tmp_path / name).write_text(text)
    main = Path(container["args"][container["args"].index("--config") + 1]).name
    checked = subprocess.run(
        [server_binary("nats-server"), "-t", "-c", str(tmp_path / main)],
        env={**os.environ, "POD_NAME": "nats-0"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr + checked.stdout
