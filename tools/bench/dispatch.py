"""Dispatcher throughput: JetStream -> `stampede dispatch` -> a trivial HTTP subscriber.

Starts a private nats-server, one uvicorn process answering 200 to every POST (counting what it
gets), and `stampede dispatch` (its own process, default settings unless flags say otherwise),
all on free ports. Then publishes CloudEvents of ~200 per-second aggregates each (binary mode,
as the bridge does) to STOCKS_A as fast as JetStream takes them, and measures until the
dispatcher's consumer has acknowledged all of them:

- CloudEvents/s and market events/s delivered (acked after a 2xx),
- the subscriber's count (every event arrived once), and each process's CPU share.

Run: stampede bench dispatch [--events 20000] [--batch 200] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import nats
import psutil
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from stampede.events import RawJSONFormat, market_batch_event
from stampede.market import Channel
from stampede.nats_binding import NATSMessage, to_binary
from stampede.subjects import stream_name, stream_subjects, subject
from stampede.tools import localstack

TRIGGER = "movers"
SUBSCRIBER = """
import sys, uvicorn
count = 0
async def app(scope, receive, send):
    global count
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if scope["path"] == "/count":
        body = str(count).encode()
    else:
        count += 1
        body = b""
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def batch_data(size: int, seq: int) -> bytes:
    """~200 Massive per-second aggregates, as the bridge forwards them (raw JSON array)."""
    items = [
        b'{"ev":"A","sym":"SYM%d","v":%d,"av":%d,"op":101.5,"vw":101.73,"o":101.7,"c":101.8,'
        b'"h":101.9,"l":101.6,"a":101.72,"z":12,"s":%d,"e":%d}'
        % (i, 100 + i, 100000 + seq, 1733149800000 + seq * 1000, 1733149801000 + seq * 1000)
        for i in range(size)
    ]
    return b"[" + b",".join(items) + b"]"


def build_messages(count: int, batch: int) -> list[NATSMessage]:
    """Built before the clock starts, so the bench measures the dispatcher, not event building."""
    return [
        to_binary(
            market_batch_event(Channel.AGGREGATE, batch_data(batch, seq), "/bench"), RawJSONFormat()
        )
        for seq in range(count)
    ]


async def publish_all(nats_url: str, messages: list[NATSMessage]) -> float:
    nc = await nats.connect(nats_url)
    js = nc.jetstream(publish_async_max_pending=2000)
    started = time.perf_counter()
    for message in messages:
        await js.publish_async(subject(Channel.AGGREGATE), message.payload, headers=message.headers)
    await js.publish_async_completed()
    elapsed = time.perf_counter() - started
    await nc.close()
    return elapsed


async def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="stampede-bench-dispatch-"))
    server = localstack.nats_server(workdir).start()
    sub_port, status_port = localstack.free_port(), localstack.free_port()
    subscriber = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, str(sub_port)])
    env = {
        **os.environ,
        "NATS_URL": server.url,
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "WARNING",
        "DISPATCH_SUBSCRIBER_URLS": f"{TRIGGER}=http://127.0.0.1:{sub_port}",
        "DISPATCH_CONCURRENCY": str(args.concurrency),
        "DISPATCH_FETCH_BATCH": str(args.concurrency),
        "DISPATCH_MAX_ACK_PENDING": str(max(1000, args.concurrency * 4)),
    }
    dispatch = subprocess.Popen(localstack.stampede_argv("dispatch", port=status_port), env=env)
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    try:
        localstack.wait_for_port("127.0.0.1", sub_port, proc=subscriber)
        await js.add_stream(
            StreamConfig(
                name=stream_name(Channel.AGGREGATE),
                subjects=stream_subjects(Channel.AGGREGATE),
                storage=StorageType.MEMORY,
                retention=RetentionPolicy.LIMITS,
                discard=DiscardPolicy.OLD,
                max_age=600,
            )
        )
        deadline = time.monotonic() + 30
        while True:  # the dispatcher's durable consumer exists: it sees every message from now on
            try:
                await js.consumer_info(stream_name(Channel.AGGREGATE), TRIGGER)
                break
            except nats.js.errors.NotFoundError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        messages = build_messages(args.events, args.batch)
        message_bytes = sum(len(m.payload) for m in messages) // len(messages)
        procs = [psutil.Process(p.pid) for p in (dispatch, subscriber)]
        for p in procs:
            p.cpu_percent()
        started = time.perf_counter()
        publish_task = asyncio.create_task(publish_all(server.url, messages))
        while True:
            info = await js.consumer_info(stream_name(Channel.AGGREGATE), TRIGGER)
            if info.ack_floor.stream_seq >= args.events:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        publish_time = await publish_task
        cpu = [p.cpu_percent() for p in procs]
        received = int(httpx.get(f"http://127.0.0.1:{sub_port}/count").text)
        print(
            f"CloudEvents delivered: {args.events} of {args.batch} events each (~{message_bytes} bytes), "
            f"subscriber counted {received}"
        )
        print(f"elapsed: {elapsed:.2f} s (publishing alone took {publish_time:.2f} s)")
        print(
            f"throughput: {args.events / elapsed:,.0f} CloudEvents/s = "
            f"{args.events * args.batch / elapsed:,.0f} market events/s"
        )
        print(f"CPU: dispatch {cpu[0]:.0f}%, subscriber {cpu[1]:.0f}% (of one core)")
        print(
            f"settings: DISPATCH_CONCURRENCY={args.concurrency}, redeliveries={info.num_redelivered}"
        )
        return 0 if received == args.events else 1
    finally:
        await nc.close()
        for proc in (dispatch, subscriber):
            proc.terminate()
            proc.wait(15)
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events", type=int, default=20_000, help="CloudEvents to deliver (default 20000)"
    )
    parser.add_argument(
        "--batch", type=int, default=200, help="market events per CloudEvent (default 200)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="DISPATCH_CONCURRENCY (default 32)"
    )
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
