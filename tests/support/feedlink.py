"""Reading the feed link the way the dashboard does: from the gateway's heartbeats."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema

from support.gateway import ReferenceClient

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "gateway-ws.v1.json").read_text()
)


async def heard_feed_link(
    client: ReferenceClient, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15.0
) -> dict[str, Any]:
    """The next heartbeat's ``feed_link`` that satisfies ``predicate``; every message on the
    way is validated against the protocol schema."""

    def wanted(message: dict[str, Any]) -> bool:
        jsonschema.validate(message, {**SCHEMA, "$ref": "#/$defs/ServerMessage"})
        return message["type"] == "heartbeat" and predicate(message["feed_link"])

    link: dict[str, Any] = (await client.until(wanted, timeout))["feed_link"]
    return link
