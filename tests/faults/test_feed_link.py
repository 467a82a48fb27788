"""The feed link, from the bridge to the dashboard: a fault is seen where a trader looks.

Real simulator, nats-server, redis-server, the bridge with its status server, the gateway
polling it (``GATEWAY_BRIDGE_URL``) and the dashboard in headless Chromium. The feed refuses
connections until the bridge has retried twice: the heartbeat (valid against the schema) and the page say
"reconnecting (connect_failed)" with the faults counted, then "connected" once it heals; a
bridge that stops answering is shown as ``unknown``, never as a healthy feed.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from stampede import service
from stampede.bridge.cli import status_routes
from stampede.gateway import metrics
from stampede.sim.testing import running_simulator
from stampede.tools import localstack
from support.bridge import bridge_settings, running_bridge, wait_for
from support.browser import chromium
from support.feedlink import heard_feed_link
from support.gateway import ReferenceClient, running_gateway

pytestmark = pytest.mark.browser

SIM = {"start": "10:00:00", "symbols": 100, "seed": 4, "history_days": 2}


def failed_polls() -> float:
    sample = metrics.REGISTRY.get_sample_value(
        "stampede_gateway_feed_link_polls_total", {"outcome": "error"}
    )
    return sample or 0.0


async def test_a_feed_fault_is_shown_on_the_dashboard_until_it_heals(
    nats_url: str, redis_url: str
) -> None:
    async with running_simulator(**SIM, speed=1) as sim:
        settings = bridge_settings(
            nats_url, sim.ws_url, sim.api_key, bridge_backoff_initial=0.4, bridge_backoff_max=1.0
        )
        async with running_bridge(settings) as bridge:
            app = FastAPI()
            app.include_router(status_routes(bridge))
            port = localstack.free_port()
            server, task = await service.serve_in_background(app, "127.0.0.1", port)
            try:
                async with (
                    running_gateway(redis_url, gateway_bridge_url=f"http://127.0.0.1:{port}") as gw,
                    ReferenceClient.connect(gw.ws_url) as client,
                    chromium() as browser,
                ):
                    page = await browser.new_page()
                    await page.goto(gw.url + "/")
                    link = await heard_feed_link(client, lambda link: link["state"] == "connected")
                    assert link["faults_total"] == 0
                    await page.wait_for_function(
                        "() => document.getElementById('feed-link').textContent === 'connected'"
                    )

                    # refused until the bridge has retried at least twice (a fixed spell of
                    # seconds is one attempt on a busy machine), then healed
                    sim.feed_faults.refuse(30.0)
                    sim.disconnect_all("force_disconnect")
                    link = await heard_feed_link(
                        client, lambda link: link["reason"].startswith("connect_failed")
                    )
                    assert link["state"] in ("backoff", "connecting"), link
                    assert link["faults"]["force_disconnect"] == 1
                    await page.wait_for_function(
                        "() => document.getElementById('feed-link').textContent"
                        ".includes('(connect_failed)')"
                    )
                    shown = await page.locator("#feed-link").inner_text()
                    assert "fault" in shown and await page.locator("#feed-link.stale").count()
                    await heard_feed_link(
                        client, lambda link: link["faults"].get("connect_failed", 0) >= 2
                    )
                    sim.feed_faults.refuse(0)

                    link = await heard_feed_link(client, lambda link: link["state"] == "connected")
                    assert link["faults"]["connect_failed"] >= 2, link
                    assert link["faults_total"] == sum(link["faults"].values())
                    await page.wait_for_function(
                        "() => document.getElementById('feed-link').textContent"
                        ".startsWith('connected · ')"
                    )
                    assert await page.locator("#feed-link.stale").count() == 0

                    errors_before = failed_polls()
                    server.should_exit = True
                    await task
                    link = await heard_feed_link(client, lambda link: link["state"] == "unknown")
                    assert "bridge status unusable" in link["reason"]
                    await wait_for(lambda: failed_polls() > errors_before, what="failed polls")
                    await page.wait_for_function(
                        "() => document.getElementById('feed-link').textContent"
                        ".startsWith('unknown')"
                    )
            finally:
                server.should_exit = True
                await task
