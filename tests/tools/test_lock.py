"""The lock holds: uv.lock agrees with pyproject.toml, requirements/ with uv.lock, and the
virtualenv the tests run in holds exactly the locked versions (scripts/lock, scripts/bootstrap).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _locked(export: Path) -> dict[str, str]:
    """name -> version of every export line whose marker holds for this interpreter."""
    pins = {}
    for line in export.read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            requirement = Requirement(line.rstrip(" \\"))
            if requirement.marker is None or requirement.marker.evaluate():
                (version,) = (spec.version for spec in requirement.specifier)
                pins[canonicalize_name(requirement.name)] = version
    return pins


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(root / "scripts" / "lock"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def lock_copy(tmp_path: Path) -> Path:
    """What scripts/lock --check reads, copied, with the real .venv (its uv) linked in."""
    for name in ("pyproject.toml", "uv.lock", "setup.py", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "lock", tmp_path / "scripts" / "lock")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path


def test_the_lock_agrees_with_pyproject_and_its_exports() -> None:
    done = _check(ROOT)
    assert done.returncode == 0, done.stderr


def test_a_range_the_lock_does_not_satisfy_fails_the_check(lock_copy: Path) -> None:
    pyproject = lock_copy / "pyproject.toml"
    text = pyproject.read_text()
    assert '"redis>=5.2"' in text
    pyproject.write_text(text.replace('"redis>=5.2"', '"redis>=5.2,<6"'))
    done = _check(lock_copy)
    assert done.returncode != 0
    assert "uv.lock does not satisfy pyproject.toml" in done.stderr


def test_an_export_edited_by_hand_fails_the_check(lock_copy: Path) -> None:
    export = lock_copy / "requirements" / "runtime.txt"
    export.write_text(re.sub(r"^redis==\S+", "redis==5.2.0", export.read_text(), flags=re.M))
    done = _check(lock_copy)
    assert done.returncode != 0
    assert "requirements/runtime.txt differs" in done.stderr


def test_the_test_environment_holds_exactly_the_locked_versions() -> None:
    assert Path(sys.prefix).resolve() == (ROOT / ".venv").resolve(), "tests run from .venv"
    locked = _locked(ROOT / "requirements" / "dev.txt")
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    installed.pop("stampede")  # the project itself, installed editable from the checkout
    installed.pop("pip")  # the venv's own installer, from the Python that made it
    assert installed == locked
