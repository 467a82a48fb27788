"""Client messages of the WebSocket protocol ``stampede.gateway.v1`` (server ones: ``replies``).

Described for machines in ``schemas/gateway-ws.v1.json`` (checked against real traffic by the
tests) and for people in ``docs/gateway.md``. Every client mistake becomes an ``error`` frame
with a stable ``code`` and a readable ``message``; the connection stays open unless the
mistake is about who the client is (auth) or capacity.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import orjson

from stampede.boards import BOARDS_BY_NAME
from stampede.gateway.replies import ErrorCode
from stampede.gateway.scans import FilterError, Filters, Spec

PROTOCOL = "stampede.gateway.v1"

# Close codes (4000-4999 are free for applications).
CLOSE_UNAUTHORIZED = 4401
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008  # a client over its bounds: reason `too_slow` or `rate_limited`

MAX_ID = 64
SubId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID)]


class Auth(msgspec.Struct, tag="auth", tag_field="type", forbid_unknown_fields=True):
    token: str


class Subscribe(msgspec.Struct, tag="subscribe", tag_field="type", forbid_unknown_fields=True):
    id: SubId
    board: str
    limit: Annotated[int, msgspec.Meta(ge=1)] = 20
    filters: dict[str, float | None] | None = None  # min_<field>/max_<field>, see scans.py


class Unsubscribe(msgspec.Struct, tag="unsubscribe", tag_field="type", forbid_unknown_fields=True):
    id: SubId


class Resync(msgspec.Struct, tag="resync", tag_field="type", forbid_unknown_fields=True):
    id: SubId | None = None  # None = every subscription of the client


class Ping(msgspec.Struct, tag="ping", tag_field="type", forbid_unknown_fields=True):
    t: int | float | str | None = None


ClientMessage = Auth | Subscribe | Unsubscribe | Resync | Ping
CLIENT_TYPES = ("auth", "subscribe", "unsubscribe", "resync", "ping")


class ProtocolError(Exception):
    """A client mistake, answered with an ``error`` frame."""

    def __init__(self, code: ErrorCode, message: str, sub_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.sub_id = sub_id


def parse(text: str | bytes) -> ClientMessage:
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("bad_json", f"message is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_request", "message must be a JSON object with a `type`")
    kind = obj.get("type")
    if kind not in CLIENT_TYPES:
        raise ProtocolError(
            "unknown_type",
            f"unknown message type {kind!r}; expected one of {', '.join(CLIENT_TYPES)}",
        )
    try:
        message: ClientMessage = msgspec.convert(obj, type=ClientMessage)
    except msgspec.ValidationError as exc:
        raise ProtocolError(
            "bad_request", f"invalid {kind} message: {exc}", valid_id(obj.get("id"))
        ) from None
    if isinstance(message, Subscribe):
        filters_of(message.filters, message.id)
    return message


def valid_id(value: object) -> str | None:
    """``value`` when it is a subscription id a reply may carry (1-64 characters), else None:
    an invalid id is never echoed, so every error frame follows the schema."""
    if isinstance(value, str) and 1 <= len(value) <= MAX_ID:
        return value
    return None


def spec_of(message: Subscribe, max_limit: int) -> Spec:
    """Validate a subscription against the catalogue and limits."""
    if message.board not in BOARDS_BY_NAME:
        raise ProtocolError(
            "unknown_board",
            f"unknown board {message.board!r}; boards: {', '.join(BOARDS_BY_NAME)}",
            message.id,
        )
    if message.limit > max_limit:
        raise ProtocolError(
            "bad_request", f"limit {message.limit} is above the maximum {max_limit}", message.id
        )
    return Spec(message.board, message.limit, filters_of(message.filters, message.id))


def filters_of(wire: dict[str, float | None] | None, sub_id: str | None = None) -> Filters:
    try:
        return Filters.parse(wire)
    except FilterError as exc:
        raise ProtocolError("bad_request", str(exc), sub_id) from None
