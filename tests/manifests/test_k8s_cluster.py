"""The prod overlay's clustered NATS and Redis, checked offline.

NATS: three routed JetStream nodes. What is rendered must be what the real nats-server accepts
(``nats-server -t`` parses the rendered ConfigMap as the pod would mount it), every pod must
route to every other one, and the stream replica counts the pipeline asks for must fit the
cluster.

Redis: six pods of one Redis Cluster, joined by the redis-cluster-create Job. The rendered
config and the Job's own script run against six real redis-servers started as the pods start
(only the pod names become local ports): they form a cluster that serves every slot, and a
second run of the Job changes nothing.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import redis

from stampede import keys
from stampede.tools.localstack import free_port, server_binary, wait_for_port
from support.k8s import containers, find, one, render

# what the pods get from stampede-common and the Secrets nats-auth / redis-auth
NATS_AUTH = {"NATS_USER": "stampede", "NATS_PASSWORD": "nats-secret"}
REDIS_AUTH = {"REDIS_USERNAME": "stampede", "REDIS_PASSWORD": "redis-secret"}


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
        env={**os.environ, "POD_NAME": "nats-0", **NATS_AUTH},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr + checked.stdout


def _redis_pods(docs) -> tuple[dict, dict, dict]:
    """The Redis StatefulSet, its container and the create Job's container."""
    statefulset = one(docs, "StatefulSet", "redis")
    (container,) = containers(statefulset)
    (create,) = containers(one(docs, "Job", "redis-cluster-create"))
    return statefulset, container, create


def test_prod_redis_is_six_cluster_pods_joined_by_the_create_job() -> None:
    docs = render("overlays/prod")
    statefulset, container, create = _redis_pods(docs)
    spec = statefulset["spec"]
    replicas, headless = spec["replicas"], spec["serviceName"]
    assert replicas == 6 and spec["podManagementPolicy"] == "Parallel"
    assert container["args"] == [
        "/etc/redis/redis-cluster.conf",
        "--cluster-announce-hostname",
        f"$(POD_NAME).{headless}",
    ]
    (pod_name,) = [e for e in container["env"] if e["name"] == "POD_NAME"]
    assert pod_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["bus"] == 16379
    service = one(docs, "Service", headless)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True  # the cluster forms before ready
    assert {p["port"] for p in service["spec"]["ports"]} == {6379, 16379}
    env = {e["name"]: e.get("value") for e in create["env"]}
    assert env["NODES"].split() == [f"redis-{i}.{headless}:6379" for i in range(replicas)]
    assert "--cluster-replicas 1" in create["args"][0]
    primaries = replicas // 2
    common = _common(docs)
    assert common["REDIS_CLUSTER"] == "true"
    seeds = common["REDIS_URL"].split(",")
    assert seeds == [f"redis://redis-{i}.{headless}:6379" for i in range(primaries)]
    assert int(common["REDIS_SHARDS"]) >= 2 * primaries  # tags spread over every primary
    assert one(docs, "PodDisruptionBudget", "redis")["spec"]["maxUnavailable"] == 1
    bus, job = one(docs, "NetworkPolicy", "redis-cluster-bus")["spec"]["ingress"]
    assert {p["port"] for p in bus["ports"]} == {6379, 16379}  # replication and the bus
    assert bus["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}}}]
    job_labels = one(docs, "Job", "redis-cluster-create")["spec"]["template"]["metadata"]
    assert job["from"][0]["podSelector"]["matchLabels"].items() <= job_labels["labels"].items()
    # Single-node overlays keep one Redis: the default is not a cluster.
    for overlay in ("dev", "eventing-natss"):
        dev = render(f"overlays/{overlay}")
        assert one(dev, "StatefulSet", "redis")["spec"]["replicas"] == 1
        assert "REDIS_CLUSTER" not in _common(dev)
        assert find(dev, "Job") == []


def _redis_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    while True:
        port = free_port()
        if port <= 55535 and _is_free(port + 10000):
            return port


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_the_rendered_config_and_create_job_form_a_real_cluster(tmp_path: Path) -> None:
    docs = render("overlays/prod")
    statefulset, container, create = _redis_pods(docs)
    config = one(docs, "ConfigMap", _generated(docs, "redis-config"))["data"]
    auth_dir = tmp_path / "auth"  # the pod's in-memory /run/redis-auth
    auth_dir.mkdir()
    for name, text in config.items():
        local = text.replace("/etc/redis/", f"{tmp_path}/").replace(" /data", f" {tmp_path}")
        local = local.replace("/run/redis-auth/", f"{auth_dir}/")
        (tmp_path / name).write_text(local)  # each node's --dir below replaces the shared dir
    # the init container writes the ACL the config includes, from the Secret
    (init,) = statefulset["spec"]["template"]["spec"]["initContainers"]
    script = init["args"][0].replace("/run/redis-auth/", f"{auth_dir}/")
    written = subprocess.run(
        [*init["command"], script], env={**os.environ, **REDIS_AUTH}, timeout=30, check=False
    )
    assert written.returncode == 0
    assert (auth_dir / "auth.conf").stat().st_mode & 0o077 == 0  # its owner's only
    ports = [_redis_port() for _ in range(statefulset["spec"]["replicas"])]
    servers = []
    try:
        for i, port in enumerate(ports):
            data = tmp_path / f"redis-{i}"
            data.mkdir()
            args = [
                a.replace("/etc/redis/", f"{tmp_path}/").replace(
                    f"$(POD_NAME).{statefulset['spec']['serviceName']}", "localhost"
                )
                for a in container["args"]
            ]
            argv = [server_binary("redis-server"), *args, "--port", str(port), "--bind"]
            argv += ["127.0.0.1", "--dir", str(data)]
            argv += ["--cluster-config-file", str(data / "nodes.conf"), "--save", ""]
            with (data / "log").open("w") as log:  # the server keeps its own copy of the fd
                servers.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
            wait_for_port("127.0.0.1", port, proc=servers[-1])
        nodes = " ".join(f"localhost:{port}" for port in ports)
        script = [*create["command"], create["args"][0]]
        job_env = {e["name"]: e["value"] for e in create["env"] if "value" in e}
        job_env |= {"REDIS_USERNAME": "stampede", "REDISCLI_AUTH": REDIS_AUTH["REDIS_PASSWORD"]}
        for run in ("create", "again"):
            done = subprocess.run(
                script,
                env={**os.environ, **job_env, "NODES": nodes},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, f"{run}: {done.stdout}{done.stderr}"
        assert "cluster already formed (6 nodes known)" in done.stdout  # the re-apply is a no-op
        with pytest.raises(redis.AuthenticationError):  # closed by default (issue 25)
            redis.Redis(port=ports[0]).ping()
        login = {"username": "stampede", "password": REDIS_AUTH["REDIS_PASSWORD"]}
        client = redis.Redis(port=ports[0], decode_responses=True, **login)
        info = client.cluster("info")
        assert info["cluster_state"] == "ok" and int(info["cluster_size"]) == 3
        assert (
            client.config_get("cluster-require-full-coverage")["cluster-require-full-coverage"]
            == "no"
        )
        slots = client.cluster("slots")
        assert all(entry[2][0] == "localhost" for entry in slots)  # clients are told hostnames
        client.close()
        # the Job gave every primary the same number of the services' symbol shards
        assert job_env["REDIS_SHARDS"] == _common(docs)["REDIS_SHARDS"]
        cluster = redis.RedisCluster(host="localhost", port=ports[0], **login)
        served = Counter(
            cluster.get_node_from_key(keys.board("2025-03-14", "volume", shard)).port
            for shard in range(int(job_env["REDIS_SHARDS"]))
        )
        cluster.close()
        assert sorted(served.values()) == [4, 4, 4]
    finally:
        for server in servers:
            server.kill()
            server.wait(10)
