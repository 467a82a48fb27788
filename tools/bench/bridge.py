"""Feed-bridge throughput: simulator -> bridge -> JetStream, each its own process.

Starts a private nats-server, the Massive simulator (``stampede sim --rate N``) and the bridge
(``stampede bridge``) on free ports, lets it warm up, then measures for a while:

- events/s acknowledged by JetStream (the bridge's ``stampede_bridge_published_events_total``),
- CloudEvents/s stored (growth of the streams' last sequence numbers, from stream info),
- frames/s read, drops by reason, queue depth, and each process's CPU share.

Run: stampede bench bridge [--rate 120000] [--seconds 20] [--warmup 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import nats
import psutil
from prometheus_client.parser import text_string_to_metric_families

from stampede.market import Channel
from stampede.subjects import stream_name
from stampede.tools import localstack
from stampede.tools.bench.simulator import add_window_arguments

API_KEY = "stampede-bench-key"


# (sample name, sorted label pairs) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    text = httpx.get(url, timeout=5, follow_redirects=True).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **match: str) -> float:
    return sum(
        v
        for (n, labels), v in samples.items()
        if n == name and all(dict(labels).get(k) == val for k, val in match.items())
    )


async def last_seqs(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        return sum([(await js.stream_info(stream_name(ch))).state.last_seq for ch in Channel])
    finally:
        await nc.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_window_arguments(parser, rate=120_000, warmup=5.0)
    parser.add_argument("--subscriptions", default="A.*,T.*,LULD.*", help="MASSIVE_SUBSCRIPTIONS")
    parser.add_argument("--content-mode", default="binary", choices=["binary", "structured"])
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="record the bridge with py-spy: flame graph (.svg) or collapsed stacks (.txt)",
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="stampede-bench-bridge-"))
    servers: list[localstack.ServerProcess] = []
    try:
        nats_server = localstack.nats_server(workdir).start()
        servers.append(nats_server)
        sim_port, bridge_port = localstack.free_port(), localstack.free_port()
        sim = localstack.ServerProcess(
            "sim",
            "127.0.0.1",
            sim_port,
            workdir / "sim",
            workdir / "sim.log",
            localstack.stampede_argv(
                "sim", "--api-key", API_KEY, "--rate", str(args.rate), "--seed", "7", port=sim_port
            ),
        ).start()
        servers.append(sim)
        env = {
            **os.environ,
            "NATS_URL": nats_server.url,
            "MASSIVE_API_KEY": API_KEY,
            "MASSIVE_WS_URL": f"ws://127.0.0.1:{sim_port}/stocks",
            "MASSIVE_REST_URL": f"http://127.0.0.1:{sim_port}",  # news polls: the simulator
            "MASSIVE_SUBSCRIPTIONS": args.subscriptions,
            "BRIDGE_MARKET_HOURS_ONLY": "false",
            "BRIDGE_CONTENT_MODE": args.content_mode,
            "BRIDGE_SHARDS": str(args.shards),
            "LOG_FORMAT": "console",
        }
        bridge = localstack.ServerProcess(
            "bridge",
            "127.0.0.1",
            bridge_port,
            workdir / "bridge",
            workdir / "bridge.log",
            localstack.stampede_argv("bridge", port=bridge_port),
            env,
        ).start()
        servers.append(bridge)
        metrics_url = f"http://127.0.0.1:{bridge_port}/metrics"
        deadline = time.monotonic() + 30
        while httpx.get(f"http://127.0.0.1:{bridge_port}/readyz", timeout=2).status_code != 200:
            if time.monotonic() > deadline:
                raise SystemExit(f"bridge not ready; see {bridge.log_path}")
            time.sleep(0.2)
        time.sleep(args.warmup)

        procs = {s.name: psutil.Process(s.proc.pid) for s in servers if s.proc}
        for p in procs.values():
            p.cpu_percent(None)
        spy = None
        if args.profile:
            import subprocess

            fmt = "raw" if args.profile.endswith(".txt") else "flamegraph"
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "-f",
                    fmt,
                    "-o",
                    args.profile,
                    "-d",
                    str(int(args.seconds)),
                    "-r",
                    "200",
                    "-p",
                    str(bridge.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        before, seq_before, t0 = (
            scrape(metrics_url),
            asyncio.run(last_seqs(nats_server.url)),
            time.monotonic(),
        )
        time.sleep(args.seconds)
        after, seq_after, t1 = (
            scrape(metrics_url),
            asyncio.run(last_seqs(nats_server.url)),
            time.monotonic(),
        )
        cpu = {name: p.cpu_percent(None) for name, p in procs.items()}
        if spy:
            spy.wait()
        elapsed = t1 - t0

        def rate(name: str, **match: str) -> float:
            return (total(after, name, **match) - total(before, name, **match)) / elapsed

        print(
            f"simulator --rate {args.rate}, subscriptions {args.subscriptions}, "
            f"{args.content_mode} mode, "
            f"{args.shards} shard(s), {elapsed:.1f}s measured after {args.warmup:.0f}s warm-up"
        )
        print(
            f"  events/s acked by JetStream : {rate('stampede_bridge_published_events_total'):,.0f}"
        )
        print(f"  events/s decoded            : {rate('stampede_bridge_events_total'):,.0f}")
        print(f"  CloudEvents/s stored        : {(seq_after - seq_before) / elapsed:,.0f}")
        print(
            f"  frames/s read               : {rate('stampede_bridge_frames_received_total'):,.0f}"
        )
        print(
            "  MB/s read                   : "
            f"{rate('stampede_bridge_received_bytes_total') / 1e6:,.1f}"
        )
        for unit in ("frames", "events"):
            drops = {
                dict(labels)["reason"]: v - before.get((n, labels), 0.0)
                for (n, labels), v in after.items()
                if n == f"stampede_bridge_dropped_{unit}_total"
            }
            print(f"  dropped {unit:<20}: {({k: int(v) for k, v in drops.items() if v}) or 0}")
        print(
            "  queue depth at end          : "
            f"{total(after, 'stampede_bridge_queue_depth_frames'):.0f} frames"
        )
        print(
            "  CPU % (100 = one core)      : " + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
        )
        return 0
    finally:
        for server in reversed(servers):
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
