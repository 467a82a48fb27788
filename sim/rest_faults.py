"""Bad REST answers on demand, so tests can prove a client survives them.

A test arms faults for a route (``sim.rest.faults.arm("float", "429", "truncated")``); each of
the route's next answers takes the next fault: ``401`` / ``429`` / ``500`` (Massive's error
bodies), ``truncated`` (the body cut in half: invalid JSON), ``wrong_type`` (in the first
result, every number becomes a string and every list a string, as a schema change would do) or
``ok`` (left alone: ``"ok", "ok", "401"`` spoils the third answer).
"""

from __future__ import annotations

import uuid
from collections import defaultdict, deque

import msgspec

from stampede.sim.replies import Reply

KINDS = ("401", "429", "500", "truncated", "wrong_type", "ok")
ERRORS = {
    401: {"status": "ERROR", "error": "Unknown API Key"},
    429: {
        "status": "ERROR",
        "error": "You've exceeded the maximum requests per minute, please wait or upgrade "
        "your subscription to continue.",
    },
    500: {"status": "ERROR", "error": "Internal Server Error"},
}


class RestFaults:
    def __init__(self) -> None:
        self.pending: dict[str, deque[str]] = defaultdict(deque)
        self.served: dict[str, int] = defaultdict(int)  # kind -> answers spoiled so far

    def arm(self, route: str, *kinds: str) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {KINDS}")
        self.pending[route].extend(kinds)

    def apply(self, route: str, reply: Reply) -> Reply:
        queue = self.pending.get(route)
        if not queue or reply.status != 200:
            return reply
        kind = queue.popleft()
        self.served[kind] += 1
        if kind == "ok":
            return reply
        if kind.isdigit():
            body = {**ERRORS[int(kind)], "request_id": uuid.uuid4().hex}
            return Reply(int(kind), msgspec.json.encode(body), reply.content_type, route)
        if kind == "truncated":
            return Reply(200, reply.body[: len(reply.body) // 2], reply.content_type, route)
        doc = msgspec.json.decode(reply.body)
        results = doc.get("results")
        first = results[0] if isinstance(results, list) and results else results
        if isinstance(first, dict):
            for name, value in first.items():
                if isinstance(value, int | float | list) and not isinstance(value, bool):
                    first[name] = str(value)
        return Reply(200, msgspec.json.encode(doc), reply.content_type, route)
