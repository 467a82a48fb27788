"""Feed faults a test can switch on in a running simulator, over ``GET /_sim/faults/...``.

Massive's failures are not all a clean close. These controls reproduce the ones a client has
to survive without a restart (``docs/simulator.md`` lists them with their HTTP form):

- ``hang``: every feed connection goes silent - nothing sent, nothing read (so pings are not
  answered), no close. Only the client's ping timeout can notice; its next login with the same
  key cuts the hung connection for good, as Massive replaces the older connection of a key.
- ``drop``: the TCP connection is cut with no status and no close frame (a network failure).
- ``disconnect``: a final status (``force_disconnect``, ``slow_consumer``) and a close, the way
  the service ends a connection.
- ``refuse``: for N seconds new feed connections are answered ``503`` before the WebSocket
  upgrade (a load balancer with no healthy backend); REST keeps answering meanwhile.

Beside them, ``/_sim/feed/stop`` ends the market events for good (connections stay open), so a
test can compare the boards with a truth that holds still. Faults of REST answers are
``rest_faults.py``.

They are GET requests because the simulator's one port is served by ``websockets``, whose HTTP
layer accepts nothing else; they need the API key like REST, and are counted per fault.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from stampede.sim.client import Client
from stampede.sim.metrics import SimMetrics
from stampede.sim.replies import Reply, Route, json_reply

DISCONNECT_STATUSES = {
    "force_disconnect": "Forced disconnect.",
    "slow_consumer": "Slow consumer: the connection is not reading fast enough.",
}
MAX_REFUSE_SECONDS = 3600.0


class FeedFaults:
    def __init__(
        self,
        clients: Callable[[], list[Client]],
        metrics: SimMetrics,
        stop_feed: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = clients
        self._metrics = metrics
        self._stop_feed = stop_feed
        self._clock = clock
        self._refuse_until = 0.0

    # ------------------------------------------------------------------ the faults
    def hang(self) -> int:
        """Silence every open feed connection without closing it."""
        clients = [c for c in self._clients() if not c.closed]
        for client in clients:
            client.hang()
        self._count("hang")
        return len(clients)

    def drop(self) -> int:
        """Cut every feed connection like a network failure (no status, no close frame)."""
        clients = self._clients()
        for client in clients:
            client.drop()
        self._count("drop")
        return len(clients)

    def disconnect(self, status: str = "force_disconnect", message: str | None = None) -> int:
        """Send ``status`` to every feed connection and close it."""
        if status not in DISCONNECT_STATUSES:
            raise ValueError(f"status must be one of {', '.join(sorted(DISCONNECT_STATUSES))}")
        clients = self._clients()
        for client in clients:
            client.terminate(status, message or DISCONNECT_STATUSES[status])
        self._count(status)
        return len(clients)

    def refuse(self, seconds: float) -> float:
        """Answer new feed connections 503 for ``seconds`` (0 ends a refusal early)."""
        if not 0 <= seconds <= MAX_REFUSE_SECONDS:
            raise ValueError(f"seconds must be between 0 and {MAX_REFUSE_SECONDS:.0f}")
        self._refuse_until = self._clock() + seconds
        self._count("refuse")
        return seconds

    def refusing(self) -> bool:
        """Asked for every feed upgrade request; True counts one refused connection."""
        if self._clock() >= self._refuse_until:
            return False
        self._metrics.refused.inc()
        return True

    # ------------------------------------------------------------------ HTTP form
    def routes(self) -> list[Route]:
        return [
            (r"/_sim/faults(?:/([a-z_]+))?", "sim_faults", self._http_fault, True),
            (r"/_sim/feed/stop", "sim_feed_stop", self._http_stop_feed, True),
        ]

    def _http_fault(self, query: dict[str, str], action: str | None) -> Reply:
        return json_reply(200, self.handle(action, query))

    def _http_stop_feed(self, query: dict[str, str]) -> Reply:
        self._stop_feed()
        return json_reply(200, {"stopped": True})

    def handle(self, action: str | None, query: dict[str, str]) -> dict[str, object]:
        """``/_sim/faults[/<action>]``: apply a fault and say what it touched."""
        if action == "hang":
            return {"hung": self.hang()}
        if action == "drop":
            return {"dropped": self.drop()}
        if action == "disconnect":
            status = query.get("status", "force_disconnect")
            return {"disconnected": self.disconnect(status, query.get("message")), "status": status}
        if action == "refuse":
            try:
                seconds = float(query.get("seconds", "30"))
            except ValueError:
                raise ValueError("seconds must be a number") from None
            return {"refusing_for_s": self.refuse(seconds)}
        if action is None:
            return self.state()
        raise ValueError(f"unknown fault {action!r}: hang, drop, disconnect or refuse")

    def state(self) -> dict[str, object]:
        clients = self._clients()
        return {
            "connections": sum(1 for c in clients if not c.closed),
            "hung": sum(1 for c in clients if c.hung),
            "refusing_for_s": round(max(0.0, self._refuse_until - self._clock()), 3),
        }

    def _count(self, fault: str) -> None:
        self._metrics.faults.labels(fault).inc()
