"""Signed CloudEvents: only the pipeline writes the boards (issue 25).

Any pod the NetworkPolicy lets through could POST a CloudEvent to a function, and a forged
batch once put a made-up symbol at the top of the volume board. So the bridge, where the events
are made, adds the extension attribute ``stampedesig`` to every CloudEvent it publishes:
``v1=`` + HMAC-SHA256, keyed with a secret from a Kubernetes Secret, over the event's ``id``,
``type``, ``source`` and data bytes. A function given the same key answers 401 to an event
without a valid one, before it parses the data, so nothing of it reaches Redis.

The data bytes are those of binary content mode, which every hop of the default route keeps
as they are (NATS headers and payload, the dispatcher's copy, the HTTP body). Structured mode
re-encodes the data on the way (the Knative Broker route of the eventing-natss overlay), so the
bridge signs in binary mode only; see docs/security.md for that route. ``time`` is not signed:
a replayed event carries an id its function has already marked as seen, and is a duplicate.
"""

from __future__ import annotations

import hashlib
import hmac

EXTENSION = "stampedesig"  # a CloudEvents extension name: lower-case letters, at most 20
HEADER = "ce-" + EXTENSION
VERSION = "v1="


def key_of(secret: str) -> bytes:
    """The MAC key of a configured secret (any length, any characters)."""
    return hashlib.sha256(secret.encode()).digest()


def sign(key: bytes, event_id: str, event_type: str, source: str, data: bytes) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for attribute in (event_id, event_type, source):
        mac.update(attribute.encode())
        mac.update(b"\0")  # attribute values cannot run into each other
    mac.update(data)
    return VERSION + mac.hexdigest()


def valid(
    key: bytes, event_id: str, event_type: str, source: str, data: bytes, presented: str | None
) -> bool:
    """Whether ``presented`` is this event's signature (compared in constant time)."""
    if not presented:
        return False
    return hmac.compare_digest(presented, sign(key, event_id, event_type, source, data))
