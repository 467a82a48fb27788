"""CloudEvents for batches, written straight to NATS headers/payload (the hot path).

The output is exactly what ``stampede.nats_binding.to_binary`` (or ``to_structured``) makes of
``stampede.events.market_batch_event(...)`` (tests hold the two equal), but without building
the SDK's CloudEvent per batch: the constant attributes are percent-encoded once per channel
and only ``id``, ``time`` and ``traceparent`` change per batch.

``id`` is a hash of channel, shard and data, so a batch republished after a reconnect carries
the same id; it doubles as the ``Nats-Msg-Id`` that JetStream de-duplicates on. With a key,
binary-mode events carry their signature (``stampede.signing``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cloudevents.core.bindings.common import CONTENT_TYPE_HEADER, encode_header_value
from cloudevents.core.formats.json import JSONFormat

from stampede import signing
from stampede.bridge.batching import Batch
from stampede.bridge.settings import BridgeSettings
from stampede.events import DATA_CONTENT_TYPE, MARKET_EVENT_TYPES, data_schema
from stampede.market import Channel
from stampede.nats_binding import CE_PREFIX
from stampede.subjects import subject

MSG_ID_HEADER = "Nats-Msg-Id"
STRUCTURED_CONTENT_TYPE = JSONFormat.CONTENT_TYPE


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    subject: str
    headers: dict[str, str]
    payload: bytes
    event_id: str


def event_id(batch: Batch) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{batch.channel.value}.{batch.shard}\0".encode())
    digest.update(batch.data)
    return digest.hexdigest()


def signing_key(settings: BridgeSettings) -> bytes | None:
    """The key events are signed with: None when unset, or in structured mode (whose data is
    re-encoded on the way, so no signature over its bytes could be checked)."""
    secret = settings.bridge_event_key.get_secret_value()
    if not secret or settings.bridge_content_mode != "binary":
        return None
    return signing.key_of(secret)


class FrameStamp:
    """What every CloudEvent of one frame shares: read time and trace context."""

    __slots__ = ("time", "time_header", "time_json", "traceparent")

    def __init__(self, read_at: datetime, traceparent: str) -> None:
        self.time = read_at
        self.time_header = encode_header_value(read_at)
        self.time_json = json.dumps(read_at.isoformat().replace("+00:00", "Z"))
        self.traceparent = traceparent


class EnvelopeWriter:
    """Turns batches into NATS messages in one content mode, for one feed ``source``."""

    def __init__(
        self,
        source: str,
        mode: Literal["binary", "structured"] = "binary",
        broker_ttl: int | None = None,
        key: bytes | None = None,
    ) -> None:
        self.source = source
        self.mode = mode
        self.key = key if mode == "binary" else None  # see signing_key
        # Knative's broker TTL extension, for the eventing-natss route (see BridgeSettings).
        self._ttl_header = (
            {} if broker_ttl is None else {CE_PREFIX + "knativebrokerttl": str(broker_ttl)}
        )
        ttl_json = "" if broker_ttl is None else f', "knativebrokerttl": {broker_ttl}'
        self._source_header = encode_header_value(source)
        self._type = {ch: MARKET_EVENT_TYPES[ch] for ch in Channel}
        self._schema_header = {ch: encode_header_value(data_schema(ch)) for ch in Channel}
        self._subjects: dict[tuple[Channel, int], str] = {}
        self._structured_head = {
            ch: (
                '{"specversion": "1.0", "id": "%s", "source": '
                + json.dumps(source).replace("%", "%%")
                + ', "type": '
                + json.dumps(MARKET_EVENT_TYPES[ch])
                + ', "time": %s, "datacontenttype": '
                + json.dumps(DATA_CONTENT_TYPE)
                + ', "dataschema": '
                + json.dumps(data_schema(ch)).replace("%", "%%")
                + ', "traceparent": "%s"'
                + ttl_json
                + ', "data": '
            )
            for ch in Channel
        }

    def subject_of(self, channel: Channel, shard: int) -> str:
        key = (channel, shard)
        name = self._subjects.get(key)
        if name is None:
            self._subjects[key] = name = subject(channel, shard)
        return name

    def write(self, batch: Batch, stamp: FrameStamp) -> OutboundMessage:
        ident = event_id(batch)
        channel = batch.channel
        if self.mode == "binary":
            headers = {
                "ce-specversion": "1.0",
                "ce-id": ident,
                "ce-source": self._source_header,
                "ce-type": self._type[channel],
                "ce-time": stamp.time_header,
                CONTENT_TYPE_HEADER: DATA_CONTENT_TYPE,
                "ce-dataschema": self._schema_header[channel],
                CE_PREFIX + "traceparent": stamp.traceparent,
                MSG_ID_HEADER: ident,
                **self._ttl_header,
            }
            if self.key:
                headers[signing.HEADER] = signing.sign(
                    self.key, ident, self._type[channel], self.source, batch.data
                )
            payload = batch.data
        else:
            headers = {CONTENT_TYPE_HEADER: STRUCTURED_CONTENT_TYPE, MSG_ID_HEADER: ident}
            head = self._structured_head[channel] % (ident, stamp.time_json, stamp.traceparent)
            payload = b"".join((head.encode(), batch.data, b"}"))
        return OutboundMessage(self.subject_of(channel, batch.shard), headers, payload, ident)
