"""NATS subjects and JetStream streams: the bus between the feed bridge and the functions.

Subject scheme: ``stampede.stocks.<CHANNEL>.<SHARD>`` where SHARD = crc32(symbol) mod N
(default N=1, shard ``0``). A shard token lets consumers scale out while every symbol's
events stay in one ordered subject. One stream per channel (``STOCKS_<CHANNEL>``) so each
channel gets its own max age: trades go stale in seconds, halts matter for minutes.
Dead letters: ``stampede.dlq.<function>`` in stream ``STAMPEDE_DLQ``. News articles (few,
and worth a day) travel on ``stampede.news.0`` in their own stream ``STAMPEDE_NEWS``; the
pages of the day's history that the bridge publishes when it starts travel beside them on
``stampede.news.history``, so a consumer of their own catches up at its own pace.
"""

from __future__ import annotations

import zlib

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from stampede.events import CHANNEL_OF_TYPE, NEWS_HISTORY_TYPE, NEWS_TYPE
from stampede.market import Channel

SUBJECT_ROOT = "stampede.stocks"
NEWS_ROOT = "stampede.news"
NEWS_STREAM = "STAMPEDE_NEWS"
DLQ_ROOT = "stampede.dlq"
DLQ_STREAM = "STAMPEDE_DLQ"


def stream_name(channel: Channel) -> str:
    return f"STOCKS_{channel.value}"


def stream_subjects(channel: Channel) -> list[str]:
    return [f"{SUBJECT_ROOT}.{channel.value}.>"]


def subject(channel: Channel, shard: int = 0) -> str:
    return f"{SUBJECT_ROOT}.{channel.value}.{shard}"


def shard_of(symbol: str, shards: int) -> int:
    """Stable shard for a symbol (crc32, not ``hash()``, so every process agrees)."""
    if shards <= 1:
        return 0
    return zlib.crc32(symbol.encode()) % shards


def dlq_subject(function: str) -> str:
    return f"{DLQ_ROOT}.{function}"


def dlq_stream_config(max_age: float, replicas: int = 1) -> StreamConfig:
    """The dead-letter stream, declared alike by the bridge and the dispatcher (whoever starts
    first creates it). Dead letters are kept on file, for days and (on a cluster) replicated:
    people read them, not the scanner, and each one is a delivery that failed for a reason."""
    return StreamConfig(
        name=DLQ_STREAM,
        subjects=[f"{DLQ_ROOT}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=max_age,
        duplicate_window=min(120.0, max_age),
        num_replicas=replicas,
    )


def news_subject() -> str:
    return f"{NEWS_ROOT}.0"


def news_history_subject() -> str:
    return f"{NEWS_ROOT}.history"


def news_subjects() -> list[str]:
    return [f"{NEWS_ROOT}.>"]


def whole_stream(stream: str, filter_subject: str) -> bool:
    """Whether a consumer filtering on ``filter_subject`` gets every message of ``stream``."""
    if stream == NEWS_STREAM:
        return filter_subject in news_subjects()
    return True  # a market stream carries one channel, all of it consumed


def route_of_type(event_type: str) -> tuple[str, str] | None:
    """(stream, filter subject) carrying a CloudEvent type on JetStream; None if none does."""
    if event_type == NEWS_TYPE:
        return NEWS_STREAM, news_subject()
    if event_type == NEWS_HISTORY_TYPE:
        return NEWS_STREAM, news_history_subject()
    channel = CHANNEL_OF_TYPE.get(event_type)
    if channel is None:
        return None
    return stream_name(channel), stream_subjects(channel)[0]
