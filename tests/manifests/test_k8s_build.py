"""skaffold.yaml, the Containerfiles and the manifests agree on images."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from support.k8s import OVERLAYS, ROOT, containers, render

SKAFFOLD = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
ARTIFACTS = {a["image"]: a for a in SKAFFOLD["build"]["artifacts"]}
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def containerfile(artifact: dict) -> Path:
    return ROOT / artifact.get("context", ".") / artifact["docker"]["dockerfile"]


def test_skaffold_is_a_current_v4_config_deploying_the_kustomize_tree() -> None:
    assert re.fullmatch(r"skaffold/v4beta\d+", SKAFFOLD["apiVersion"])
    assert SKAFFOLD["kind"] == "Config"
    paths = [SKAFFOLD["manifests"]["kustomize"]["paths"]] + [
        p["manifests"]["kustomize"]["paths"] for p in SKAFFOLD["profiles"]
    ]
    assert {p["name"] for p in SKAFFOLD["profiles"]} == {"dev", "prod", "eventing-natss"}
    for group in paths:
        for path in group:
            assert (ROOT / path / "kustomization.yaml").exists(), path


@pytest.mark.parametrize("image", sorted(ARTIFACTS))
def test_every_skaffold_image_has_its_containerfile(image: str) -> None:
    artifact = ARTIFACTS[image]
    path = containerfile(artifact)
    assert path.exists(), f"{image}: {path} missing"
    text = path.read_text()
    if image in ("stampede/base", "stampede/base-sim"):
        froms = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
        assert froms == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]  # multi-stage
        pinned = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE).group(1)
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", pinned)
        assert re.search(r"^USER 10001", text, re.MULTILINE), "runs as non-root"
        # the dependency layer is built before any source is copied
        assert text.index("pip install --require-hashes") < text.index("COPY core/")
        assert "PORT=8080" in text
    else:
        base = "stampede/base-sim" if image == "stampede/simulator" else "stampede/base"
        assert artifact["requires"] == [{"image": base, "alias": "BASE"}]
        assert re.search(r"^FROM \$\{BASE\}$", text, re.MULTILINE)
        assert '--port \\"${PORT:-8080}\\"' in text, "listens on $PORT (Knative runtime contract)"


def test_prod_drops_exactly_the_simulator_and_its_base() -> None:
    (prod,) = [p for p in SKAFFOLD["profiles"] if p["name"] == "prod"]
    removed = [int(p["path"].rsplit("/", 1)[1]) for p in prod["patches"] if p["op"] == "remove"]
    assert [SKAFFOLD["build"]["artifacts"][i]["image"] for i in removed] == [
        "stampede/simulator",
        "stampede/base-sim",
    ]


def test_the_context_ignore_files_keep_the_source_the_base_build_copies() -> None:
    docker = (ROOT / ".dockerignore").read_text()
    assert (ROOT / ".containerignore").read_text() == docker  # podman/buildah read this one
    kept = {line[1:].rstrip("/") for line in docker.splitlines() if line.startswith("!")}
    copied = re.findall(
        r"^COPY (?!--from)(.+) \S+$", (ROOT / "core/Containerfile").read_text(), re.MULTILINE
    )
    wanted = {p.rstrip("/") for line in copied for p in line.split()}
    assert wanted and wanted <= kept, wanted - kept


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_is_built_by_skaffold_at_the_project_version_or_pinned(overlay: str) -> None:
    docs = render(f"overlays/{overlay}")
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet") or doc["apiVersion"].startswith(
            "serving.knative.dev/"
        ):
            for container in containers(doc):
                name, _, tag = container["image"].partition(":")
                if name.startswith("stampede/"):
                    assert name in ARTIFACTS and tag == VERSION, container["image"]
                else:
                    assert re.fullmatch(r"\d+\.\d+\.\d+(-alpine)?", tag), container["image"]
