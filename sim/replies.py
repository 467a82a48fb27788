"""What every simulated REST endpoint answers with: a status, a JSON body, Massive's request id."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

JSON = "application/json"


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = JSON
    route: str = ""


# (path pattern, route name for metrics and faults, handler(query, *groups), needs the key)
Route = tuple[str, str, Callable[..., "Reply"], bool]


def json_reply(status: int, doc: object, route: str = "") -> Reply:
    return Reply(status, msgspec.json.encode(doc), JSON, route)


def request_id() -> str:
    return uuid.uuid4().hex


def not_found(message: str) -> Reply:
    return json_reply(404, {"status": "NOT_FOUND", "request_id": request_id(), "message": message})
