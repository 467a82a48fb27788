"""checkov (policy as code) passes on every rendered overlay, with the exceptions justified in
manifests/checkov.yaml.

checkov pins ~60 packages (boto3, networkx, an old `packaging`, ...) that would clash with the
project's own, so it runs from its own virtualenv holding its own lock (requirements/checkov.txt,
made by scripts/lock), created once per machine and lock under ~/.cache/stampede (about 30 s with
PyPI reachable) and reused; set CHECKOV to use an installed checkov instead. A scan takes a few seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support.k8s import MANIFESTS, OVERLAYS, ROOT, render

CHECKOV_LOCK = ROOT / "requirements" / "checkov.txt"


@pytest.fixture(scope="session")
def checkov() -> str:
    if os.environ.get("CHECKOV"):
        return os.environ["CHECKOV"]
    lock_id = hashlib.sha256(CHECKOV_LOCK.read_bytes()).hexdigest()[:12]
    venv = Path.home() / ".cache" / "stampede" / f"checkov-{lock_id}"
    binary = venv / "bin" / "checkov"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        subprocess.run(
            [
                str(venv / "bin" / "pip"),
                "install",
                "-q",
                "--disable-pip-version-check",
                "--require-hashes",
                "-r",
                str(CHECKOV_LOCK),
            ],
            check=True,
            timeout=600,
        )
    return str(binary)


def scan(checkov: str, manifest: Path) -> dict:
    result = subprocess.run(
        [
            checkov,
            "--config-file",
            str(MANIFESTS / "checkov.yaml"),
            "-f",
            str(manifest),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checkov_finds_no_failed_check(overlay: str, checkov: str, tmp_path: Path) -> None:
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(yaml.safe_dump_all(render(f"overlays/{overlay}")))
    report = scan(checkov, manifest)
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert report["summary"]["passed"] > 100
    assert failed == []


def test_checkov_can_fail(checkov: str, tmp_path: Path) -> None:
    """A privileged root container is reported, so a clean scan means something."""
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "bad", "namespace": "stampede"},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "image": "busybox:1.36",
                            "securityContext": {"privileged": True, "runAsUser": 0},
                        }
                    ]
                },
            }
        )
    )
    report = scan(checkov, manifest)
    failed = {c["check_id"] for c in report["results"]["failed_checks"]}
    assert "CKV_K8S_16" in failed  # privileged container
