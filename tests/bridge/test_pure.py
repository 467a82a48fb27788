"""Queue, backoff, protocol statuses, schedule and settings: the bridge's pure logic."""

from __future__ import annotations

import random
from datetime import datetime

import pytest

from stampede.bridge.backoff import Backoff
from stampede.bridge.framequeue import FrameQueue
from stampede.bridge.protocol import Meaning, auth_message, classify
from stampede.bridge.schedule import feed_window
from stampede.bridge.settings import BridgeSettings
from stampede.market import Channel
from stampede.markettime import ET
from stampede.settings import public_url


async def test_queue_drops_the_oldest_when_full() -> None:
    drops: list[int] = []
    queue = FrameQueue(3, on_drop=drops.append)
    for i in range(5):
        queue.put(str(i).encode(), float(i))
    assert len(queue) == 3 and queue.dropped == 2 and drops == [1, 1]
    assert [(await queue.get())[0] for _ in range(3)] == [b"2", b"3", b"4"]
    assert queue.get_nowait() is None


def test_backoff_grows_with_jitter_caps_and_resets() -> None:
    backoff = Backoff(0.5, 8.0, random.Random(1))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [0.5, 1, 2, 4, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered
    backoff.reset()
    assert backoff.next_delay() <= 0.5


@pytest.mark.parametrize(
    ("status", "authenticating", "meaning"),
    [
        ("connected", False, Meaning.CONNECTED),
        ("auth_success", True, Meaning.AUTHENTICATED),
        ("success", True, Meaning.AUTHENTICATED),  # older servers
        ("error", True, Meaning.AUTH_REJECTED),  # older servers
        ("auth_failed", True, Meaning.AUTH_REJECTED),
        ("auth_timeout", True, Meaning.AUTH_TIMEOUT),
        ("success", False, Meaning.SUBSCRIBED),
        ("error", False, Meaning.ERROR),
        ("max_connections", False, Meaning.EVICTED),
        ("slow_consumer", False, Meaning.SLOW_CONSUMER),
        ("force_disconnect", False, Meaning.FORCE_DISCONNECT),
        ("something_new", False, Meaning.UNKNOWN),
    ],
)
def test_status_meanings(status: str, authenticating: bool, meaning: Meaning) -> None:
    assert classify(status, authenticating=authenticating) is meaning


def test_auth_message_escapes_the_key() -> None:
    assert auth_message('k"ey') == '{"action": "auth", "params": "k\\"ey"}'


def et(*args: int) -> datetime:
    return datetime(*args, tzinfo=ET)


@pytest.mark.parametrize(
    ("now", "is_open", "until"),
    [
        (et(2025, 11, 24, 3, 59), False, et(2025, 11, 24, 4, 0)),  # Monday before pre-market
        (et(2025, 11, 24, 4, 0), True, et(2025, 11, 24, 20, 0)),
        (et(2025, 11, 24, 19, 59), True, et(2025, 11, 24, 20, 0)),
        (et(2025, 11, 24, 20, 0), False, et(2025, 11, 25, 4, 0)),
        (et(2025, 11, 27, 10, 0), False, et(2025, 11, 28, 4, 0)),  # Thanksgiving: closed
        (et(2025, 11, 28, 16, 30), True, et(2025, 11, 28, 17, 0)),  # early close 13:00 -> 17:00
        (et(2025, 11, 28, 17, 0), False, et(2025, 12, 1, 4, 0)),  # Friday evening -> Monday
        (et(2025, 11, 29, 12, 0), False, et(2025, 12, 1, 4, 0)),  # Saturday
    ],
)
def test_feed_window_follows_the_xnys_calendar(
    now: datetime, is_open: bool, until: datetime
) -> None:
    window = feed_window(now)
    assert (window.open, window.until) == (is_open, until)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASSIVE_API_KEY", "sekret-key")
    monkeypatch.setenv("BRIDGE_MAX_AGE_A", "7")
    monkeypatch.setenv("BRIDGE_CONTENT_MODE", "structured")
    monkeypatch.setenv("MASSIVE_SUBSCRIPTIONS", "A.*, T.MSFT,")
    monkeypatch.setenv("MASSIVE_WS_URL", "wss://user:pw@socket.massive.com/stocks?apiKey=x#f")
    settings = BridgeSettings()
    assert settings.max_age(Channel.AGGREGATE) == 7 and settings.max_age(Channel.LULD) == 3600
    assert settings.bridge_content_mode == "structured"
    assert settings.subscriptions() == ["A.*", "T.MSFT"]
    assert settings.feed_source == "wss://socket.massive.com/stocks"
    assert "sekret" not in repr(settings) and "sekret" not in str(settings.model_dump())
    assert settings.massive_api_key.get_secret_value() == "sekret-key"


def test_public_url_keeps_port_and_path() -> None:
    assert public_url("ws://127.0.0.1:9000/stocks") == "ws://127.0.0.1:9000/stocks"
    assert public_url("nats://u:p@nats:4222") == "nats://nats:4222"
