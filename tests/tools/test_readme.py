"""The README stays true: its configuration table and curl example are the code's own."""

from __future__ import annotations

import re
from pathlib import Path

from stampede.tools import config_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _block(text: str, name: str) -> str:
    found = re.search(rf"<!-- {name}:start -->\n(.*?)\n?<!-- {name}:end -->", text, re.DOTALL)
    assert found, f"{name} block missing"
    return found.group(1).strip()


def test_configuration_table_is_what_stampede_config_prints() -> None:
    assert _block(README, "config") == config_table.markdown().strip(), (
        "README configuration table is stale: run `stampede config --update README.md`"
    )


def test_every_component_settings_variable_is_documented() -> None:
    variables = {row[0] for row in config_table.rows()}
    assert {"MASSIVE_API_KEY", "NATS_URL", "REDIS_URL", "MASSIVE_WS_URL"} <= variables
    for variable in variables:
        assert f"`{variable}`" in README


def test_curl_example_is_the_tested_one() -> None:
    functions_doc = (ROOT / "docs" / "functions.md").read_text()
    assert _block(README, "curl-example") == _block(functions_doc, "curl-example")


def test_readme_names_the_two_commands() -> None:
    assert "./scripts/up" in README and "./scripts/test" in README
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
