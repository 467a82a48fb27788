"""The day scenario (``stampede bench --scenario day``): a whole simulated session, 04:00 ->
20:00 ET at high speed, through the night and into the next trading day's pre-market.

While it runs, once a wall second: every process's RSS, Redis used memory, key count and
commands processed, NATS stream bytes, the gateway's clients and snapshots sent, the simulator's
events sent, consumer pending, and what the gateway serves (day, rows per board) beside what
Redis holds for the simulated day. Reference data is reloaded every 20 simulated minutes, as
the cluster's PingSource does every 20 minutes. Redis keys are counted by day and kind with
their TTLs after the close and at the end; the boards are compared with the simulator's truth
in the quiet after 20:00. ``dayfigures`` turns the samples into the report's figures.

The market runs at ``--day-activity`` of a full day's trading (8,200 tickers, ~78M trades at
1.0): at 120x a full day would be ~150k events/s, which no one machine absorbs; the shape of
the day (04:00 blip, the open, the close, the fading after-hours) is the same.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import nats
import redis
import redis.asyncio as aioredis

from stampede import keys, markettime
from stampede import metricnames as names
from stampede.boards import BOARDS
from stampede.tools.bench import dayfigures
from stampede.tools.bench.dayfigures import DaySample
from stampede.tools.bench.probes import (
    HOLD_CLOCK,
    Background,
    BoardClient,
    Running,
    pipeline,
    processes,
    usage,
)
from stampede.tools.bench.truth import compare_with_truth
from stampede.tools.bench.verdict import Doc
from stampede.tools.promscrape import Snapshot

GATEWAY_SNAPSHOTS = "stampede_gateway_snapshots_sent_total"
REFDATA_EVERY_SIM_S = 20 * 60
FRESHNESS_S = 120


@dataclass
class DayPlan:
    date: str  # the session simulated first (its next trading day follows)
    start: str  # ET start time
    speed: float
    activity: float
    next_day_minutes: float  # how far into the next day's pre-market to run
    compare_budget: float
    workroot: Path


def next_trading_day(day: date) -> date:
    d = day + timedelta(days=1)
    while not markettime.is_trading_day(d):
        d += timedelta(days=1)
    return d


class DaySampler(Background):
    """One :class:`DaySample` a wall second from every part of a running scanner."""

    def __init__(self, running: Running, interval: float = 1.0) -> None:
        self.status, self.sim, self.interval = running.status, running.sim, interval
        self.samples: list[DaySample] = []
        self.errors: dict[str, int] = {}
        self._procs = processes(running.status)
        super().__init__()

    def wait_for_sample(self, sim_ms: int, timeout: float) -> None:
        """Until a sample of simulated time ``sim_ms`` or later is taken. At 900x a wall second
        is 15 simulated minutes: a loaded machine would otherwise start the clock before the
        first sample, or end the run before the last, and lose the day's edges."""
        deadline = time.monotonic() + timeout
        while not (self.samples and self.samples[-1].sim_ms >= sim_ms):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no sample of {dayfigures.et(sim_ms)} in {timeout:.0f} s "
                    f"(sample errors: {self.errors})"
                )
            time.sleep(0.1)

    def _work(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        nc = await nats.connect(self.status["nats"])
        store = aioredis.Redis.from_url(self.status["redis"])
        # the boards' sizes where the gateway reads them: its replica lags the primary, and at
        # 900x a few ms of lag are a window board's whole life
        gateway_store = aioredis.Redis.from_url(
            self.status.get("redis_replica") or self.status["redis"]
        )
        try:
            async with httpx.AsyncClient(timeout=2.0) as http:
                while not self._stop.is_set():
                    started = time.monotonic()
                    try:
                        self.samples.append(
                            await self._sample(http, nc.jsm(), store, gateway_store)
                        )
                    except (httpx.HTTPError, redis.RedisError, nats.errors.Error, ValueError) as e:
                        kind = type(e).__name__
                        self.errors[kind] = self.errors.get(kind, 0) + 1
                    await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))
        finally:
            await store.aclose()
            await gateway_store.aclose()
            await nc.close()

    async def _metrics(self, http: httpx.AsyncClient) -> Snapshot:
        """Every component's /metrics, merged (a component that does not answer fails the
        sample: its counters would look reset)."""
        pages = await asyncio.gather(*(http.get(url) for url in self.status["metrics"].values()))
        return Snapshot.merge(Snapshot.parse(page.text) for page in pages)

    async def _sample(
        self,
        http: httpx.AsyncClient,
        jsm: nats.js.JetStreamManager,
        store: aioredis.Redis,
        gateway_store: aioredis.Redis,
    ) -> DaySample:
        at = time.monotonic()
        clock = (await http.get(f"{self.sim}/_sim/clock")).json()
        sample = DaySample(at, int(clock["sim_ms"]))
        day = markettime.trading_day(sample.sim_ms)
        metrics = await self._metrics(http)
        sample.sim_end_ms = int((await http.get(f"{self.sim}/_sim/clock")).json()["sim_ms"])
        info = await store.info()
        streams = await jsm.streams_info()
        before = await board_sizes(gateway_store, day)
        boards = await asyncio.gather(
            *(
                http.get(f"{self.status['gateway']}/api/boards/{b.name}", params={"limit": 20})
                for b in BOARDS
            )
        )
        after = await board_sizes(gateway_store, day)
        _, rss = usage(self._procs)
        v = sample.values
        v.update({f"rss_mb:{name}": round(b / 2**20, 1) for name, b in rss.items()})
        v["redis_used_mb"] = round(info["used_memory"] / 2**20, 2)
        v["redis_keys"] = float(await store.dbsize())
        v["redis_commands"] = float(info["total_commands_processed"])
        for stream in streams:
            v[f"stream_mb:{stream.config.name}"] = round(stream.state.bytes / 2**20, 2)
        v["stream_messages"] = float(sum(s.state.messages for s in streams))
        v["gateway_clients"] = metrics.value(names.GATEWAY_CLIENTS)
        v["gateway_snapshots"] = metrics.value(GATEWAY_SNAPSHOTS)
        v["sim_events"] = metrics.value(names.SIM_EVENTS_SENT)
        v["events_applied"] = metrics.value(names.FUNCTION_EVENTS_APPLIED)
        v["stale_shed"] = metrics.value(names.FUNCTION_DROPPED, reason="stale")
        # what never reached a function: aged out of JetStream (CloudEvents) or of the bridge
        v["expired_cloudevents"] = metrics.value(names.DISPATCH_EXPIRED)
        v["bridge_stale_events"] = metrics.value(names.BRIDGE_DROPPED_EVENTS, reason="stale")
        v["pending"] = sum(metrics.by(names.DISPATCH_CONSUMER_PENDING, "trigger").values())
        # a board counts as held only if it had members right before and right after the
        # gateway's answer: a window board can empty and fill again between two samples
        sample.board_members = {b.name: min(before[b.name], after[b.name]) for b in BOARDS}
        docs = [answer.json() for answer in boards]
        sample.board_rows = {b.name: len(doc.get("rows", [])) for b, doc in zip(BOARDS, docs)}
        sample.board_day = docs[0].get("day") if docs else None
        return sample


async def board_sizes(store: aioredis.Redis, day: str) -> dict[str, int]:
    """ZCARD of every board of ``day``, in one round trip."""
    async with store.pipeline(transaction=False) as pipe:
        for board in BOARDS:
            pipe.zcard(keys.board(day, board.name))
        sizes = await pipe.execute()
    return {b.name: int(n) for b, n in zip(BOARDS, sizes, strict=True)}


class RefdataSchedule(Background):
    """Fires the reference-data load every ``every`` wall seconds, as the PingSource does."""

    def __init__(self, running: Running, every: float) -> None:
        self.running, self.every = running, every
        self.fired, self.failed = 0, 0
        super().__init__()

    def _work(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.running.scanner.load_reference_data()
                self.fired += 1
            except (httpx.HTTPError, RuntimeError):
                self.failed += 1


def census(redis_url: str) -> list[tuple[str, int]]:
    """Every key with its TTL in seconds (-1: none)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        names_ = list(client.scan_iter(count=2000))
        with client.pipeline(transaction=False) as pipe:
            for name in names_:
                pipe.ttl(name)
            ttls = pipe.execute()
    finally:
        client.close()
    return list(zip(names_, ttls))


def wait_for_sim(sim: str, until_ms: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{sim}/_sim/clock", timeout=5).json()["sim_ms"] >= until_ms:
            return
        time.sleep(0.5)
    raise TimeoutError(f"simulated clock did not reach {dayfigures.et(until_ms)}")


def day_run(plan: DayPlan) -> Doc:
    """The scenario (see the module docstring); the result document of ``--scenario day``."""
    first = date.fromisoformat(plan.date)
    second = next_trading_day(first)
    close_ms = markettime.et_ms(first, markettime.AFTER_HOURS_CLOSE)
    next_open_ms = markettime.et_ms(second, markettime.PREMARKET_OPEN)
    end_ms = next_open_ms + int(plan.next_day_minutes * 60_000)
    workdir = Path(tempfile.mkdtemp(prefix="day-", dir=plan.workroot))
    # The clock waits until the whole pipeline is up: the day starts where it should however
    # long that takes (seconds are simulated hours at this speed).
    # A wall second is two simulated minutes here: the functions' freshness limit (10 s of wall
    # time by default) would shed whole simulated half-hours behind a brief lag at the open, and
    # the boards after the close could not equal the truth. This scenario is about a day's
    # memory and its switch, not freshness (the open scenario measures that), so it allows
    # FRESHNESS_S; whatever is shed all the same is counted in the totals.
    env = {
        "SIM_DATE": plan.date,
        "SIM_ACTIVITY": str(plan.activity),
        "FUNCTION_MAX_EVENT_AGE_SECONDS": str(FRESHNESS_S),
        **HOLD_CLOCK,
    }
    up_argv = ["--start", plan.start, "--speed", str(plan.speed), "--seed", "7"]
    print(
        f"[day] {plan.date} from {plan.start} ET at {plan.speed:g}x (activity {plan.activity:g}) "
        f"into {second} pre-market: starting the pipeline...",
        flush=True,
    )
    with (
        pipeline(workdir, up_argv, env) as running,
        BoardClient(running.status["gateway"]) as client,
        DaySampler(running) as sampler,
        RefdataSchedule(running, REFDATA_EVERY_SIM_S / plan.speed) as refdata,
    ):
        sampler.wait_for_sample(0, timeout=60)  # the clock is held: this is the start
        started = time.monotonic()
        running.start_clock()
        budget = (end_ms - running.clock_offset_ms() - time.time() * 1000) / 1000 / plan.speed
        wait_for_sim(running.sim, close_ms + 5 * 60_000, timeout=budget + 120)
        after_close = dayfigures.key_census(census(running.status["redis"]))
        boards = compare_with_truth(running.status, running.sim, budget=plan.compare_budget)
        print(f"[day] {plan.date} closed; boards = truth: {boards['all_match']}", flush=True)
        wait_for_sim(running.sim, end_ms, timeout=budget + 120)
        sampler.wait_for_sample(end_ms, timeout=60)
        at_end = dayfigures.key_census(census(running.status["redis"]))
        wall_seconds = time.monotonic() - started
    shutil.rmtree(workdir, ignore_errors=True)
    samples = sampler.samples
    switch = dayfigures.day_switch(
        samples, second.isoformat(), next_open_ms, client.days, subscriptions=len(BOARDS)
    )
    result = {
        "date": plan.date,
        "next_date": second.isoformat(),
        "start": plan.start,
        "speed": plan.speed,
        "activity": plan.activity,
        "wall_seconds": round(wall_seconds, 1),
        "samples": len(samples),
        "sample_errors": sampler.errors,
        "first_sim_et": dayfigures.et(samples[0].sim_ms) if samples else None,
        "last_sim_et": dayfigures.et(samples[-1].sim_ms) if samples else None,
        "growth": dayfigures.growth_per_sim_hour(samples),
        "keys_after_close": after_close,
        "keys_at_end": at_end,
        "never_expiring_keys": {
            plan.date: dayfigures.never_expiring(at_end, plan.date),
            second.isoformat(): dayfigures.never_expiring(at_end, second.isoformat()),
        },
        "boards_vs_truth_after_close": boards,
        "night": dayfigures.quiet_night(samples, close_ms, next_open_ms),
        "totals": dayfigures.totals(samples),
        "switch": switch,
        "refdata_loads": {"fired": refdata.fired, "failed": refdata.failed},
        "next_day_reference_loaded": bool(at_end.get(second.isoformat(), {}).get("ref")),
        "client": client.summary(),
    }
    print(
        f"[day] switch to {second} at {switch['switch_sim_et']} (on time: {switch['on_time']}), "
        f"reset storm: {switch['reset_storm']}, empty boards: {switch['empty_board_samples']}",
        flush=True,
    )
    return result
