"""CloudEvents NATS protocol binding (spec v1.0.x), which the cloudevents SDK does not ship.

Binary content mode puts every context attribute in a NATS header named ``ce-<attribute>``
(values percent-encoded like the SDK's other header bindings) and ``datacontenttype`` in the
``content-type`` header; the message payload is the event data, untouched. Structured mode
carries the whole event in the payload with ``content-type: application/cloudevents+json``.
This mirrors the SDK's own Kafka/RabbitMQ bindings so it reads like one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cloudevents.core.base import BaseCloudEvent, EventFactory
from cloudevents.core.bindings.common import (
    CONTENT_TYPE_HEADER,
    DATACONTENTTYPE_ATTR,
    decode_header_value,
    encode_header_value,
    get_event_factory_for_version,
)
from cloudevents.core.formats.base import Format
from cloudevents.core.spec import SPECVERSION_V1_0

CE_PREFIX: Final[str] = "ce-"
STRUCTURED_CONTENT_TYPE: Final[str] = "application/cloudevents"


@dataclass(frozen=True, slots=True)
class NATSMessage:
    """What a NATS message carries: headers and payload (the subject is the caller's)."""

    headers: dict[str, str]
    payload: bytes


def to_binary(event: BaseCloudEvent, event_format: Format) -> NATSMessage:
    headers: dict[str, str] = {}
    attributes = event.get_attributes()
    for name, value in attributes.items():
        if value is None:
            continue
        if name == DATACONTENTTYPE_ATTR:
            headers[CONTENT_TYPE_HEADER] = str(value)
        else:
            headers[CE_PREFIX + name] = encode_header_value(value)
    payload = event_format.write_data(event.get_data(), attributes.get(DATACONTENTTYPE_ATTR))
    return NATSMessage(headers=headers, payload=payload)


def to_structured(event: BaseCloudEvent, event_format: Format) -> NATSMessage:
    return NATSMessage(
        headers={CONTENT_TYPE_HEADER: event_format.get_content_type()},
        payload=event_format.write(event),
    )


def from_binary(
    message: NATSMessage, event_format: Format, event_factory: EventFactory | None = None
) -> BaseCloudEvent:
    attributes: dict[str, object] = {}
    for header, value in message.headers.items():
        name = header.lower()
        if name.startswith(CE_PREFIX):
            attr = name[len(CE_PREFIX) :]
            attributes[attr] = decode_header_value(attr, value)
        elif name == CONTENT_TYPE_HEADER:
            attributes[DATACONTENTTYPE_ATTR] = value
    factory = event_factory or get_event_factory_for_version(
        str(attributes.get("specversion", SPECVERSION_V1_0))
    )
    content_type = attributes.get(DATACONTENTTYPE_ATTR)  # a header value: str when present
    data = event_format.read_data(
        message.payload, content_type if isinstance(content_type, str) else None
    )
    return factory(attributes, data)


def from_structured(
    message: NATSMessage, event_format: Format, event_factory: EventFactory | None = None
) -> BaseCloudEvent:
    return event_format.read(event_factory, message.payload)


def is_structured(headers: dict[str, str] | None) -> bool:
    for name, value in (headers or {}).items():
        if name.lower() == CONTENT_TYPE_HEADER:
            return value.lower().startswith(STRUCTURED_CONTENT_TYPE)
    return False


def from_nats(
    message: NATSMessage, event_format: Format, event_factory: EventFactory | None = None
) -> BaseCloudEvent:
    """Decode either content mode, chosen by the ``content-type`` header as the spec says."""
    if is_structured(message.headers):
        return from_structured(message, event_format, event_factory)
    return from_binary(message, event_format, event_factory)
