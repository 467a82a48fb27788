"""NATS message -> HTTP request (CloudEvents binary content mode), and what an answer means.

Binary NATS messages already carry the HTTP binary-mode headers: both bindings name attributes
``ce-<name>`` and map ``datacontenttype`` to ``content-type``. So the hot path copies those
headers and the payload untouched (data bytes preserved, no parse); only values the NATS binding
percent-encoded are re-encoded with the HTTP binding's narrower escape set (spec 3.1.3.2), which
makes the headers identical to the SDK's own conversion (``tests/dispatch`` checks that).
Structured NATS messages (the eventing-natss mode) are decoded with the SDK and re-encoded as
HTTP binary mode.
"""

from __future__ import annotations

import enum
from typing import Any
from urllib.parse import quote, unquote

from cloudevents.core.bindings import http as ce_http

from stampede.events import RawJSONFormat
from stampede.nats_binding import CE_PREFIX, NATSMessage, from_nats, is_structured

CONTENT_TYPE = "content-type"
_FORMAT = RawJSONFormat()
ERROR_EXCERPT_BYTES = 512
# CloudEvents HTTP binding 3.1.3.2: printable ASCII except space, double quote and percent is safe.
HTTP_SAFE = "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in ' "%')


def http_header_value(nats_value: str) -> str:
    """A ``ce-*`` value as the HTTP binding encodes it (no ``%`` = nothing was escaped)."""
    return quote(unquote(nats_value), safe=HTTP_SAFE) if "%" in nats_value else nats_value


def to_http(headers: dict[str, str] | None, payload: bytes) -> tuple[dict[str, str], bytes]:
    """HTTP binary-mode headers and body for the CloudEvent in a NATS message."""
    headers = headers or {}
    if is_structured(headers):
        message = ce_http.to_binary(from_nats(NATSMessage(headers, payload), _FORMAT), _FORMAT)
        return message.headers, message.body
    out = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith(CE_PREFIX):
            out[lower] = http_header_value(value)
        elif lower == CONTENT_TYPE:
            out[lower] = value
    return out, payload


def attributes(headers: dict[str, str] | None, payload: bytes) -> dict[str, Any]:
    """The event's context attributes (for filters beyond ``type``); decodes either mode."""
    return from_nats(NATSMessage(headers or {}, payload), _FORMAT).get_attributes()


class Verdict(enum.Enum):
    ACK = "ack"  # delivered
    RETRY = "retry"  # worth another attempt later
    REJECT = "reject"  # the subscriber will never take it


def verdict(status: int | None) -> Verdict:
    """Knative's JetStream dispatcher rule: 2xx ack; 5xx, 408, 429 and no answer retry; else reject."""
    if status is None or status >= 500 or status in (408, 429):
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.ACK
    return Verdict.REJECT


def printable(text: str, limit: int = ERROR_EXCERPT_BYTES) -> str:
    """A header-safe excerpt: control characters (CR/LF would break the header block) dropped."""
    return "".join(ch for ch in text[:limit] if ch.isprintable())


def dead_letter_headers(
    original: dict[str, str] | None,
    *,
    reason: str,
    trigger: str,
    destination: str,
    subject: str,
    stream_sequence: int,
    deliveries: int,
    status: int | None,
    error: str,
) -> dict[str, str]:
    """The original message's headers (the CloudEvent, in its content mode) plus why it failed.

    ``Nats-Msg-Id`` makes a repeated dead-lettering of the same message (e.g. the ack after
    publishing was lost) land once in STAMPEDE_DLQ.
    """
    headers = {k: v for k, v in (original or {}).items() if not k.lower().startswith("nats-")}
    headers.update(
        {
            "Nats-Msg-Id": f"{trigger}:{subject}:{stream_sequence}",
            "Stampede-Dlq-Reason": reason,
            "Stampede-Dlq-Trigger": trigger,
            "Stampede-Dlq-Destination": destination,
            "Stampede-Dlq-Subject": subject,
            "Stampede-Dlq-Stream-Sequence": str(stream_sequence),
            "Stampede-Dlq-Deliveries": str(deliveries),
            "Stampede-Dlq-Status": "" if status is None else str(status),
            "Stampede-Dlq-Error": printable(error),
        }
    )
    return headers
