"""What Massive's status objects mean to a client (see docs/massive-protocol facts).

Pure logic, no I/O: the connection asks :func:`classify` what a status means and acts on it.
Older servers answered auth with ``success``/``error`` instead of ``auth_success``/``auth_failed``,
so the meaning of ``success`` and ``error`` depends on whether auth is still pending.
"""

from __future__ import annotations

import enum
import json


class Meaning(str, enum.Enum):
    CONNECTED = "connected"  # greeting; send auth next
    AUTHENTICATED = "authenticated"
    AUTH_REJECTED = "auth_rejected"  # fatal: the key is wrong; retrying cannot help
    AUTH_TIMEOUT = "auth_timeout"  # we were too slow; reconnect
    SUBSCRIBED = "subscribed"  # (un)subscribe acknowledgement
    EVICTED = "evicted"  # max_connections: another connection holds the feed
    SLOW_CONSUMER = "slow_consumer"  # the server cut us off for reading too slowly
    FORCE_DISCONNECT = "force_disconnect"
    ERROR = "error"  # e.g. "Invalid JSON" for something we sent
    UNKNOWN = "unknown"


_BY_STATUS = {
    "connected": Meaning.CONNECTED,
    "auth_success": Meaning.AUTHENTICATED,
    "auth_failed": Meaning.AUTH_REJECTED,
    "auth_timeout": Meaning.AUTH_TIMEOUT,
    "max_connections": Meaning.EVICTED,
    "slow_consumer": Meaning.SLOW_CONSUMER,
    "force_disconnect": Meaning.FORCE_DISCONNECT,
}

# Statuses after which the server closes the connection; the reason names the reconnect.
DISCONNECTS = frozenset(
    {Meaning.EVICTED, Meaning.SLOW_CONSUMER, Meaning.FORCE_DISCONNECT, Meaning.AUTH_TIMEOUT}
)


def classify(status: str, *, authenticating: bool) -> Meaning:
    """The meaning of a status value; ``authenticating`` is True between auth request and answer."""
    status = status.lower()
    if status == "success":
        return Meaning.AUTHENTICATED if authenticating else Meaning.SUBSCRIBED
    if status == "error":
        return Meaning.AUTH_REJECTED if authenticating else Meaning.ERROR
    return _BY_STATUS.get(status, Meaning.UNKNOWN)


def auth_message(api_key: str) -> str:
    return json.dumps({"action": "auth", "params": api_key})


def subscribe_message(topics: list[str]) -> str:
    return json.dumps({"action": "subscribe", "params": ",".join(topics)})
