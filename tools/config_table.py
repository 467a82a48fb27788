"""`stampede config`: the table of every environment variable each component reads.

Generated from the pydantic-settings classes, so the README table (checked by a test against
this output) cannot drift from the code.
"""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

SETTINGS_CLASSES: dict[str, str] = {
    "sim": "stampede.sim.settings:SimSettings",
    "bridge": "stampede.bridge.settings:BridgeSettings",
    "dispatch": "stampede.dispatch.settings:DispatchSettings",
    "function": "stampede.functions.settings:FunctionSettings",
    "gateway": "stampede.gateway.settings:GatewaySettings",
}


def load(path: str) -> type[BaseSettings]:
    module, _, name = path.partition(":")
    settings_class: type[BaseSettings] = getattr(importlib.import_module(module), name)
    return settings_class


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "(required)"
    if field.default is None:
        return "(unset)"
    if isinstance(field.default, SecretStr):
        return "(secret)"
    return repr(field.default)


def rows() -> list[tuple[str, str, str, str]]:
    """(variable, default, components, description), one row per variable."""
    table: dict[str, dict[str, Any]] = {}
    for component, path in SETTINGS_CLASSES.items():
        for name, field in load(path).model_fields.items():
            row = table.setdefault(
                name.upper(), {"defaults": {}, "description": field.description or ""}
            )
            row["defaults"][component] = _default(field)
    out = []
    for var in sorted(table):
        defaults = table[var]["defaults"]
        if len(set(defaults.values())) == 1:
            default = f"`{next(iter(defaults.values()))}`"
        else:
            default = "; ".join(f"{c}: `{d}`" for c, d in defaults.items())
        out.append((var, default, ", ".join(defaults), table[var]["description"]))
    return out


def markdown() -> str:
    lines = ["| variable | default | read by | meaning |", "|---|---|---|---|"]
    for var, default, components, desc in rows():
        lines.append(f"| `{var}` | {default} | {components} | {desc} |")
    return "\n".join(lines)


README_BLOCK = re.compile(r"(<!-- config:start -->\n).*?(\n<!-- config:end -->)", re.DOTALL)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="stampede config", description=__doc__)
    parser.add_argument(
        "--update",
        metavar="README",
        type=Path,
        help="rewrite the table between the config markers of this file",
    )
    args = parser.parse_args(argv)
    if args.update is None:
        print(markdown())
        return 0
    text = args.update.read_text()
    updated, found = README_BLOCK.subn(lambda m: m.group(1) + markdown() + m.group(2), text)
    if not found:
        parser.error(f"no <!-- config:start --> ... <!-- config:end --> block in {args.update}")
    args.update.write_text(updated)
    return 0
