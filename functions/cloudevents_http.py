"""CloudEvents over HTTP, as Knative delivers them and as a person sends them with curl.

Binary and structured modes go through the SDK's HTTP binding (``cloudevents.core.bindings.http``)
with :class:`stampede.events.RawJSONFormat`, so binary-mode data stays the raw bytes the hot path
decodes once with msgspec. Batched mode (``application/cloudevents-batch+json``, a JSON array of
structured events) is not in the SDK; it is parsed here per the HTTP protocol binding spec §3.3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.exceptions import BaseCloudEventException

from stampede import signing
from stampede.events import RawJSONFormat

STRUCTURED = "application/cloudevents+json"
BATCHED = "application/cloudevents-batch+json"
_FORMAT = RawJSONFormat()


class InvalidCloudEvent(ValueError):
    """The request is not a well-formed CloudEvent (answered 400, never retried)."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """One received CloudEvent, reduced to what the functions use."""

    id: str
    type: str
    source: str
    time_ms: int | None  # when the producer (the bridge) made it; the freshness clock
    traceparent: str | None
    data: bytes | None  # JSON bytes (structured-mode data is re-encoded once)
    signature: str | None = None  # the stampedesig extension (stampede.signing)


def _parent(extension: str | None, http: str | None) -> str | None:
    """The trace context to continue: the HTTP hop's (the dispatcher's delivery span) when it is
    in the event's own trace, else the event's ``traceparent`` extension (the bridge's frame span).

    A broker's HTTP hop may carry a trace of its own; the extension is what links to the bridge.
    W3C ``traceparent`` is ``00-<trace id: 32 hex>-<span id>-<flags>``.
    """
    if http and (not extension or http[3:35] == extension[3:35]):
        return http
    return extension or http


def _extension(event: BaseCloudEvent, name: str) -> Any:
    """An extension attribute's value, None when the event has none."""
    try:
        return event.get_extension(name)
    except (KeyError, AttributeError):
        return None


def _incoming(event: BaseCloudEvent, http_traceparent: str | None = None) -> Incoming:
    time = event.get_time()
    data: Any = event.get_data()
    if data is not None and not isinstance(data, bytes):
        data = msgspec.json.encode(data)  # structured mode: the SDK parsed it already
    traceparent = _extension(event, "traceparent")
    signature = _extension(event, signing.EXTENSION)
    return Incoming(
        id=event.get_id(),
        type=event.get_type(),
        source=event.get_source(),
        time_ms=int(time.timestamp() * 1000) if time is not None else None,
        traceparent=_parent(traceparent, http_traceparent),
        data=data,
        signature=signature if isinstance(signature, str) else None,
    )


def parse(headers: dict[str, str], body: bytes) -> list[Incoming]:
    """The CloudEvents in one HTTP request, in any of the three content modes.

    ``headers`` must have lower-case names. Raises :class:`InvalidCloudEvent`.
    """
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    traceparent = headers.get("traceparent")
    try:
        if content_type == BATCHED:
            items = msgspec.json.decode(body)
            if not isinstance(items, list):
                raise InvalidCloudEvent("a batched request must be a JSON array of CloudEvents")
            return [_incoming(_FORMAT.read(None, msgspec.json.encode(item))) for item in items]
        if content_type == STRUCTURED:
            message = ce_http.HTTPMessage(headers, body)
            return [_incoming(ce_http.from_structured(message, _FORMAT), traceparent)]
        if "ce-specversion" in headers:
            message = ce_http.HTTPMessage(headers, body)
            return [_incoming(ce_http.from_binary(message, _FORMAT), traceparent)]
    except InvalidCloudEvent:
        raise
    except (
        BaseCloudEventException,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        msgspec.DecodeError,
        RecursionError,  # JSON nested too deeply (the SDK parses structured mode itself)
    ) as exc:
        raise InvalidCloudEvent(f"malformed CloudEvent: {exc}") from exc
    raise InvalidCloudEvent(
        "not a CloudEvent: send binary mode (ce-* headers), "
        f"structured ({STRUCTURED}) or batched ({BATCHED})"
    )
