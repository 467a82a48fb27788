"""Run the simulator inside a test's event loop.

    async with running_simulator(start="09:29:50", speed=5, symbols=400, seed=3) as sim:
        sim.ws_url, sim.rest_url, sim.api_key      # where and how to connect
        sim.drop_connections()                     # cut every socket (network failure)
        sim.disconnect_all("force_disconnect")     # status + close, like the service
        sim.truth({"limit": "0"})                  # ground truth of what was sent

Options are :class:`~stampede.sim.settings.SimSettings` fields without their ``sim_`` prefix
(``api_key`` for ``massive_api_key``); the port defaults to a free one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from stampede.sim.server import Simulator
from stampede.sim.settings import SimSettings


def settings_for(**options: object) -> SimSettings:
    values: dict[str, Any] = {"sim_host": "127.0.0.1", "sim_port": 0}
    for name, value in options.items():
        if name == "api_key":
            values["massive_api_key"] = value
        elif name.startswith(("sim_", "massive_", "log_")):
            values[name] = value
        else:
            values[f"sim_{name}"] = value
    return SimSettings(**values)


@contextlib.asynccontextmanager
async def running_simulator(**options: object) -> AsyncIterator[Simulator]:
    sim = Simulator(settings_for(**options))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()
