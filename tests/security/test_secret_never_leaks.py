"""The Massive API key never leaves the processes that need it.

The whole scanner runs as `stampede up` runs it (every component its own process), with a
distinctive key and `LOG_LEVEL=DEBUG` (the level at which HTTP and WebSocket libraries print
request lines and frames). While the simulated feed flows, we collect everything an operator or
a user can see, and the key (raw, URL-encoded or base64) must be in none of it:

- every log file (`<workdir>/logs/*.log`, nats-server's and redis-server's included);
- every `/metrics` page (simulator included);
- every message on NATS under `stampede.>` (payloads and headers);
- everything the gateway serves: dashboard HTML/JS/CSS, every REST answer, the OpenAPI
  document, WebSocket messages for every board;
- `status.json`, and the command line of every component that reads the key (they get it from
  the environment; only the simulator, which must know the key to check it, takes a flag).
"""

from __future__ import annotations

import asyncio
import base64
import re
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nats
import psutil
import pytest
import redis

from stampede.boards import BOARDS
from stampede.settings import public_url
from support.gateway import ReferenceClient  # tests/gateway (see pythonpath in pyproject.toml)
from support.pipeline import Pipeline

pytestmark = pytest.mark.slow

SECRET = "sk-LEAKCANARY-7f3a9c2e1d"
FORMS = (
    SECRET,
    urllib.parse.quote(SECRET),
    base64.b64encode(SECRET.encode()).decode(),
    base64.b64encode(f":{SECRET}".encode()).decode(),
    "LEAKCANARY",
)


def _leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [form for form in FORMS if form in text]


@pytest.fixture(scope="module")
async def pipeline(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pipeline]:
    p = Pipeline(
        tmp_path_factory.mktemp("secrets"),
        start="19:59:35",
        seed=5,
        api_key=SECRET,
        env={"LOG_LEVEL": "DEBUG"},
    )
    try:
        await asyncio.to_thread(p.start)
        yield p
    finally:
        await asyncio.to_thread(p.stop)


async def test_key_not_on_nats_or_gateway_or_metrics(pipeline: Pipeline) -> None:
    seen: list[tuple[str, bytes, dict]] = []
    nc = await nats.connect(pipeline.nats_url)

    async def record(msg) -> None:
        seen.append((msg.subject, msg.data, dict(msg.headers or {})))

    await nc.subscribe("stampede.>", cb=record)
    gateway_ws = pipeline.gateway_url.replace("http://", "ws://") + "/ws"
    async with ReferenceClient.connect(gateway_ws) as client:
        for board in BOARDS:
            await client.subscribe(board.name, board.name, limit=50)
        await client.until(lambda m: m["type"] == "diff", timeout=30)
        await client.drain(quiet=2.0)
    await nc.drain()
    assert len(seen) > 10, "hardly anything on NATS: the feed did not flow"
    leaked = [(subject, _leaks(data) + _leaks(repr(headers))) for subject, data, headers in seen]
    assert [x for x in leaked if x[1]] == []
    assert [m for m in client.messages if _leaks(repr(m))] == []

    async with httpx.AsyncClient(base_url=pipeline.gateway_url, timeout=10) as http:
        index = (await http.get("/")).text
        paths = [
            "/",
            "/api/boards",
            "/openapi.json",
            "/healthz",
            "/readyz",
            *(f"/api/boards/{b.name}?limit=100" for b in BOARDS),
            *re.findall(r'(?:src|href)="(/[^"]+)"', index),
        ]
        assert any(p.endswith(".js") for p in paths), paths
        # the gateway's metrics are on its private status port (read with every component's)
        assert (await http.get("/metrics")).status_code == 404
        for path in paths:
            answer = await http.get(path)
            assert answer.status_code == 200, path
            assert _leaks(answer.content) == [], path
            assert _leaks(repr(answer.headers)) == [], path

        for name, url in pipeline.status["metrics"].items():
            page = (await http.get(url)).text
            assert page, name
            assert _leaks(page) == [], name


def test_key_not_in_logs_status_or_command_lines(pipeline: Pipeline) -> None:
    logs = pipeline.log_texts()
    workdir = Path(pipeline.status["logs"]).parent
    logs.update({p.name: p.read_text(errors="replace") for p in workdir.rglob("*.log")})
    assert {"bridge.log", "function-refdata.log", "sim.log"} <= set(logs), sorted(logs)
    assert sum(len(t) for t in logs.values()) > 10_000, "suspiciously little logging at DEBUG"
    assert {name: _leaks(text) for name, text in logs.items() if _leaks(text)} == {}
    assert _leaks((workdir / "status.json").read_text()) == []
    pids = pipeline.status["pids"]
    # Positive control: the canary is where it must be, in the environment of the processes
    # that use it (the bridge, refdata and the simulator, which has to know the key it accepts).
    assert _leaks(" ".join(psutil.Process(pids["sim"]).environ().values()))
    for name, pid in pids.items():  # ...and in no command line, which every local user can read
        assert _leaks(" ".join(psutil.Process(pid).cmdline())) == [], name


async def test_stores_admit_only_the_stacks_user_whose_password_stays_private(
    pipeline: Pipeline,
) -> None:
    """Redis and NATS refuse a client without the stack's user (issue 25), and the passwords
    the components log in with are in no log and no command line."""
    urls = {name: pipeline.status[name].split(",")[0] for name in ("nats", "redis")}
    passwords = {name: urllib.parse.urlsplit(url).password for name, url in urls.items()}
    assert all(passwords.values()), "the stack's stores must require a password"
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(public_url(urls["redis"])).ping()
    with pytest.raises(nats.errors.Error):
        await nats.connect(
            public_url(urls["nats"]), allow_reconnect=False, max_reconnect_attempts=0
        )
    workdir = Path(pipeline.status["logs"]).parent
    logs = {p.name: p.read_text(errors="replace") for p in workdir.rglob("*.log")}
    for name, text in logs.items():
        assert [k for k, pw in passwords.items() if pw and pw in text] == [], name
    for name, pid in pipeline.status["pids"].items():
        cmdline = " ".join(psutil.Process(pid).cmdline())
        assert [k for k, pw in passwords.items() if pw and pw in cmdline] == [], name
