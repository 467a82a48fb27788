"""The CloudEvents Stampede moves: their types, data schemas and how they are built.

Market data travels as *batches*: one CloudEvent per channel per Massive frame (per shard),
whose data is a JSON array of Massive's own event objects for that channel (see
``stampede.market``). Batching keeps the per-message cost of NATS and HTTP off the per-event
budget at 100k events/s; keeping Massive's field names means no re-mapping on the hot path.
Types are versioned: a breaking change to a data schema gets a new type.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import GenericAlias
from typing import Any

import msgspec
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from stampede.market import EVENT_TYPES, Channel

TYPE_PREFIX = "dev.stampede"
DATA_CONTENT_TYPE = "application/json"

MARKET_EVENT_TYPES: dict[Channel, str] = {
    Channel.AGGREGATE: f"{TYPE_PREFIX}.stocks.aggregate.v1",
    Channel.MINUTE_AGGREGATE: f"{TYPE_PREFIX}.stocks.minute_aggregate.v1",
    Channel.TRADE: f"{TYPE_PREFIX}.stocks.trade.v1",
    Channel.QUOTE: f"{TYPE_PREFIX}.stocks.quote.v1",
    Channel.LULD: f"{TYPE_PREFIX}.stocks.luld.v1",
    Channel.IMBALANCE: f"{TYPE_PREFIX}.stocks.imbalance.v1",
}
CHANNEL_OF_TYPE: dict[str, Channel] = {t: ch for ch, t in MARKET_EVENT_TYPES.items()}

# Fired by a cron source (PingSource in the cluster, `stampede up` locally) before 04:00 ET.
REFDATA_LOAD_TYPE = f"{TYPE_PREFIX}.refdata.load.v1"
# One news article (Massive's /v2/reference/news object as data), published once by the
# bridge's news poller; the CloudEvent id is the article id.
NEWS_TYPE = f"{TYPE_PREFIX}.news.v1"
# The day's news so far, when the bridge (re)starts: one page of articles (a JSON array of
# Massive article objects) per CloudEvent, on its own Trigger, so catching up never competes
# with the live feed on equal terms (docs/architecture.md "Live before history").
NEWS_HISTORY_TYPE = f"{TYPE_PREFIX}.news.history.v1"


def data_schema(channel: Channel) -> str:
    """URI of the JSON Schema (in ``schemas/``) that describes a channel's batch data."""
    return f"urn:stampede:schema:{MARKET_EVENT_TYPES[channel].removeprefix(TYPE_PREFIX + '.')}"


def batch_json_schema(channel: Channel) -> dict[str, Any]:
    """JSON Schema of a channel's batch data, generated from the structs that decode it
    (committed under ``schemas/events/`` and checked against this by a test)."""
    schema = msgspec.json.schema(GenericAlias(list, (EVENT_TYPES[channel],)))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": data_schema(channel),
        "title": f"{MARKET_EVENT_TYPES[channel]} data: a batch of Massive {channel.value} events",
        **schema,
    }


class RawJSONFormat(JSONFormat):
    """JSON event format that leaves binary-mode data as the raw bytes it arrived as.

    The SDK's JSONFormat parses data with the standard ``json`` module; the hot path decodes
    batches straight into typed structs with msgspec instead, so parsing happens once.
    """

    def read_data(self, body: bytes, datacontenttype: str | None) -> bytes | None:
        return body or None


def market_batch_event(
    channel: Channel,
    data: bytes,
    source: str,
    *,
    event_id: str | None = None,
    time: datetime | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    """Build the CloudEvent carrying one batch (JSON array bytes) of a channel's events."""
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id or uuid.uuid4().hex,
        "source": source,
        "type": MARKET_EVENT_TYPES[channel],
        "time": time or datetime.now(UTC),
        "datacontenttype": DATA_CONTENT_TYPE,
        "dataschema": data_schema(channel),
    }
    if traceparent:
        attributes["traceparent"] = traceparent
    return CloudEvent(attributes, data)


def news_event(
    article_id: str,
    data: Any,
    source: str,
    *,
    time: datetime,
    broker_ttl: int | None = None,
    event_type: str = NEWS_TYPE,
) -> CloudEvent:
    """The CloudEvent of one news article (Massive's article object as data, its id as the
    CloudEvent id, so a re-published article is recognised downstream), or with
    ``NEWS_HISTORY_TYPE`` of a page of the day's history (an array of them; the id a hash of
    their ids: the function counts each article once by its own id)."""
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": article_id,
        "source": source,
        "type": event_type,
        "time": time,
        "datacontenttype": DATA_CONTENT_TYPE,
    }
    if broker_ttl is not None:
        attributes["knativebrokerttl"] = broker_ttl
    return CloudEvent(attributes, data)
