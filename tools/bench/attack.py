"""The hostile clients of ``stampede bench --scenario hostile`` (issue 25), in a process of
their own so the honest client's measure shares nothing with them but the machine.

    python -m stampede.tools.bench.attack --gateway URL --function URL --token T --seconds S

Four attacks at once, each from addresses of its own on the loopback network (127.0.x.y), as
attackers on the internet would come from addresses other than the honest trader's:

- ``flooders``: authenticated clients that never read their socket and keep sending
  ``subscribe`` and ``resync``; how long until the gateway cut each one off;
- ``slow headers``: connections that send their HTTP headers a line every few seconds
  (slowloris); how long the gateway kept each one open;
- ``storm``: WebSocket connections without a token, as fast as they open; how each ended
  (refused at the cap, refused unauthenticated, or failed);
- ``forged``: unsigned CloudEvents POSTed straight to a scoring function at a fixed rate, each
  naming a made-up symbol ``PWND<n>``; the status codes they got.

It prints one JSON document: what each attack saw.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import httpx
import websockets

FORGED_PREFIX = "PWND"  # the made-up symbols of forged events: none may reach a board
SLOW_HEADER_EVERY_S = 2.0  # a slow-header connection sends one more header line this often


def source(network: int, i: int) -> tuple[str, int]:
    """The i-th loopback source address of an attack (127.<network>.<hi>.<lo>)."""
    return (f"127.{network}.{1 + i // 250}.{1 + i % 250}", 0)


async def flooder(url: str, token: str, i: int, seconds: float) -> float | None:
    """Seconds from its first message until the gateway cut this never-reading client off
    (None: never, in time)."""
    started = time.monotonic()
    try:
        async with websockets.connect(
            url, max_queue=1, max_size=None, local_addr=source(10, i), open_timeout=30
        ) as ws:
            started = time.monotonic()  # connected: the flood begins
            await ws.send(json.dumps({"type": "auth", "token": token}))
            n = 0
            while time.monotonic() - started < seconds:
                n += 1
                board = ("gainers", "volume", "momentum_1m", "news")[n % 4]
                await ws.send(
                    json.dumps(
                        {"type": "subscribe", "id": f"s{n % 8}", "board": board, "limit": 50}
                    )
                )
                await ws.send(json.dumps({"type": "resync"}))
                await asyncio.sleep(0.01)
    except (OSError, websockets.WebSocketException):
        return time.monotonic() - started
    return None


async def slow_headers(host: str, port: int, i: int, seconds: float) -> float:
    """Seconds this connection stayed open while sending its headers slowly."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(host, port, local_addr=source(20, i))
    except OSError:
        return 0.0
    try:
        writer.write(f"GET /ws HTTP/1.1\r\nHost: {host}\r\n".encode())
        await writer.drain()
        n = 0
        while time.monotonic() - started < seconds:
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(1024), SLOW_HEADER_EVERY_S) == b"":
                    break  # closed by the server
            n += 1
            writer.write(f"X-Slow-{n}: {'a' * 8}\r\n".encode())
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()
    return time.monotonic() - started


async def unauthenticated(url: str, i: int) -> str:
    """How one connection of the storm ended: the close code's meaning, or the failure."""
    try:
        async with websockets.connect(url, local_addr=source(30, i), open_timeout=10) as ws:
            await asyncio.wait_for(ws.recv(), 15)  # the refusal's error message, then the close
            await asyncio.wait_for(ws.recv(), 15)
    except websockets.ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        return {4401: "unauthorized"}.get(code or 0, f"closed {code}")
    except websockets.InvalidStatus as exc:  # refused in the handshake: at the cap, 503
        return (
            "too_many_clients"
            if exc.response.status_code == 503
            else f"http {exc.response.status_code}"
        )
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        return type(exc).__name__
    return "open"


async def storm(url: str, count: int, in_flight: int) -> Counter[str]:
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> str:
        async with gate:
            return await unauthenticated(url, i)

    return Counter(await asyncio.gather(*(one(i) for i in range(count))))


def forged_event(n: int) -> tuple[dict[str, str], bytes]:
    """A binary-mode CloudEvent of one `A` bar, with no signature, for a made-up symbol."""
    now = int(time.time() * 1000)
    bar = {
        "ev": "A", "sym": f"{FORGED_PREFIX}{n % 50}", "v": 1e9, "av": 9e9, "op": 1.0, "vw": 99.0,
        "o": 99.0, "c": 99.0, "h": 99.0, "l": 99.0, "a": 99.0, "z": 100, "s": now - 1000, "e": now,
    }  # fmt: skip
    headers = {
        "ce-specversion": "1.0",
        "ce-id": uuid.uuid4().hex,
        "ce-source": "/attacker",
        "ce-type": "dev.massive.stocks.A.batch",
        "content-type": "application/json",
    }
    return headers, json.dumps([bar]).encode()


async def forge(url: str, rate: float, seconds: float) -> Counter[str]:
    """POST ``rate`` forged events a second for ``seconds``; their status codes."""
    codes: Counter[str] = Counter()
    started = time.monotonic()
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(timeout=10, limits=limits) as http:
        pending: set[asyncio.Task[None]] = set()

        async def post(n: int) -> None:
            headers, body = forged_event(n)
            try:
                answer = await http.post(url, headers=headers, content=body)
                codes[str(answer.status_code)] += 1
            except httpx.HTTPError as exc:
                codes[type(exc).__name__] += 1

        n = 0
        while (elapsed := time.monotonic() - started) < seconds:
            while n < elapsed * rate and len(pending) < 256:
                task = asyncio.create_task(post(n))
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1
            await asyncio.sleep(0.005)
        await asyncio.gather(*pending)
    return codes


async def attack(args: argparse.Namespace) -> dict[str, Any]:
    address = urlsplit(args.gateway)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    ws_url = args.gateway.replace("http://", "ws://") + "/ws"
    flooding = asyncio.gather(
        *(flooder(ws_url, args.token, i, args.seconds) for i in range(args.flooders))
    )
    slow = asyncio.gather(
        *(slow_headers(host, port, i, args.seconds) for i in range(args.slow_headers))
    )
    started = time.monotonic()
    forging = asyncio.create_task(forge(args.function, args.forged_rate, args.seconds))
    await asyncio.sleep(1.0)  # the storm while the others are on
    storming = await storm(ws_url, args.storm, args.storm_in_flight)
    cut_after = await flooding
    open_for = await slow
    codes = await forging
    forged_s = time.monotonic() - started
    cut = sorted(s for s in cut_after if s is not None)
    return {
        "flooders": {
            "count": args.flooders,
            "cut_off": len(cut),
            "cut_off_after_s_max": max(cut, default=None),
            "cut_off_after_s_median": cut[len(cut) // 2] if cut else None,
        },
        "slow_headers": {
            "count": args.slow_headers,
            "open_s_max": max(open_for, default=0.0),
            "open_past_15_s": sum(1 for s in open_for if s > 15.0),
        },
        "storm": {"count": args.storm, "outcomes": dict(storming)},
        "forged": {
            "rate": args.forged_rate,
            "sent_per_s": round(sum(codes.values()) / forged_s, 1),  # what this machine managed
            "status_codes": dict(codes),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway", required=True, help="the gateway's public URL")
    parser.add_argument("--function", required=True, help="a scoring function's URL")
    parser.add_argument("--token", required=True, help="the token a flooder authenticates with")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--flooders", type=int, default=50)
    parser.add_argument("--slow-headers", type=int, default=1000)
    parser.add_argument("--storm", type=int, default=5000)
    parser.add_argument("--storm-in-flight", type=int, default=2000)
    parser.add_argument("--forged-rate", type=float, default=1000.0)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(attack(args))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
