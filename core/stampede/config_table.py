"""`stampede config`: the table of every environment variable each component reads.

Generated from the pydantic-settings classes, so the README table (checked by a test against
this output) cannot drift from the code.
"""

from __future__ import annotations

import argparse
import importlib

from pydantic_settings import BaseSettings

SETTINGS_CLASSES: dict[str, str] = {
    "sim": "massive_sim.settings:SimSettings",
    "bridge": "feed_bridge.settings:BridgeSettings",
    "dispatch": "stampede_dispatch.settings:DispatchSettings",
    "function": "stampede_functions.settings:FunctionSettings",
    "gateway": "stampede_gateway.settings:GatewaySettings",
}


def load(path: str) -> type[BaseSettings]:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def rows() -> list[tuple[str, str, str, str]]:
    """(variable, default, components, description), one row per variable."""
    table: dict[str, list] = {}
    for component, path in SETTINGS_CLASSES.items():
        cls = load(path)
        for name, field in cls.model_fields.items():
            var = name.upper()
            default = "(required)" if field.is_required() else repr(field.default)
            if field.default is None:
                default = "(unset)"
            row = table.setdefault(var, [var, default, [], field.description or ""])
            row[2].append(component)
    return [(v, d, ", ".join(c), desc) for v, d, c, desc in sorted(table.values())]


def markdown() -> str:
    lines = ["| variable | default | read by | meaning |", "|---|---|---|---|"]
    for var, default, components, desc in rows():
        lines.append(f"| `{var}` | `{default}` | {components} | {desc} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="stampede config", description=__doc__)
    parser.parse_args(argv)
    print(markdown())
    return 0
