"""Dependencies point one way: core <- services <- tools.

The core (``stampede``: domain and runtime) imports no part built on it; a service (sim, bridge,
dispatch, functions, gateway) imports the core and itself, never another service; only the
operator tools may import everything. Checked on the source, so a stray import fails here
before it couples two deployables.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = dict(re.findall(r'"(stampede(?:\.\w+)?)": "([\w/-]+)"', (ROOT / "setup.py").read_text()))
SERVICES = {"stampede.sim", "stampede.bridge", "stampede.dispatch", "stampede.functions",
            "stampede.gateway"}  # fmt: skip
PARTS = SERVICES | {"stampede.tools"}


def part_of(module: str) -> str:
    """The part a dotted ``stampede...`` module belongs to (``stampede`` for the core)."""
    head = ".".join(module.split(".")[:2])
    return head if head in PARTS else "stampede"


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {n for n in names if n == "stampede" or n.startswith("stampede.")}


def allowed(part: str) -> set[str]:
    if part == "stampede.tools":
        return PARTS | {"stampede"}
    if part in SERVICES:
        return {part, "stampede"}
    return {"stampede"}


@pytest.mark.parametrize("package", sorted(FOLDERS))
def test_imports_point_from_tools_through_services_to_core(package: str) -> None:
    folder = ROOT / FOLDERS[package]
    assert folder.is_dir()
    part = part_of(package)
    wrong = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in folder.rglob("*.py")
        for name in imported(path)
        if part_of(name) not in allowed(part)
    }
    assert not wrong, sorted(wrong)


def test_the_check_sees_a_violation() -> None:
    assert part_of("stampede.gateway.hub") not in allowed("stampede.functions")
    assert part_of("stampede.keys") in allowed("stampede.gateway")
    assert part_of("stampede.tools.localstack") not in allowed("stampede")
