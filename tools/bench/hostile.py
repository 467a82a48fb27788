"""``stampede bench --scenario hostile`` (issue 25): the steady market load with one honest
dashboard client, measured without attackers and then with them (``attack.py``, a process of
its own), and issue 25's verdict on what the honest client, the gateway and the boards went
through."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import redis

from stampede import keys
from stampede.gateway.settings import GatewaySettings
from stampede.tools.bench import attack, verdict
from stampede.tools.bench.probes import BoardClient, pipeline
from stampede.tools.bench.scenarios import Plan
from stampede.tools.bench.verdict import Doc
from stampede.tools.promscrape import Snapshot


def hostile(plan: Plan) -> Doc:
    """Issue 25's attack: the steady market load (``--hostile-rate``) with one honest dashboard
    client, measured for ``seconds`` without attackers and then for ``seconds`` with them
    (``attack.py``, a process of its own: 50 never-reading flooders, 1,000 slow-header
    connections, a storm of 5,000 unauthenticated connections, 1,000 forged events/s). The
    gateway requires a token here, as on a public address; the honest client sends it first."""
    workdir = Path(tempfile.mkdtemp(prefix="hostile-", dir=plan.workroot))
    rate_ = plan.hostile_rate
    token = secrets.token_urlsafe(24)
    print(f"[hostile] {rate_:,} events/s market: starting the pipeline...", flush=True)
    up_argv = ["--start", plan.sim_start, "--rate", str(rate_), "--shape", "market"]
    with pipeline(workdir, [*up_argv, *plan.store_argv], env={"GATEWAY_TOKEN": token}) as running:
        status = running.status
        gateway_status = str(status["gateway_metrics"])
        offset = running.clock_offset_ms()
        with BoardClient(status["gateway"], clock_offset_ms=offset, token=token) as client:
            time.sleep(plan.warmup)
            client.reset()
            time.sleep(plan.seconds)
            calm = client.summary()
            print("[hostile] attacking...", flush=True)
            client.reset()
            attacker = subprocess.Popen(
                [
                    *(sys.executable, "-m", "stampede.tools.bench.attack"),
                    *("--gateway", str(status["gateway"]), "--token", token),
                    *("--function", str(status["services"]["function-movers"]) + "/"),
                    *("--seconds", str(plan.seconds)),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            gateway, attacking = (
                psutil.Process(pid) for pid in (status["pids"]["gateway"], attacker.pid)
            )
            cpu0, began = cpu_seconds(attacking), time.monotonic()
            rss_max = attacker_cpu = 0.0
            while attacker.poll() is None:
                with contextlib.suppress(psutil.Error):
                    attacker_cpu = cpu_seconds(attacking) - cpu0
                    rss_max = max(rss_max, gateway.memory_info().rss / 2**20)
                time.sleep(0.25)
            attacked = client.summary()
            seen = json.loads(attacker.communicate()[0])
            seen["attacker_cpu_percent"] = round(100 * attacker_cpu / (time.monotonic() - began))
        gateway_page = Snapshot.parse(httpx.get(gateway_status, timeout=5).text)
        # a high-water mark kept by the gateway: read once, after the attack
        admitted_max = gateway_page.value("stampede_gateway_admitted_connections_peak")
        movers_page = Snapshot.parse(
            httpx.get(str(status["metrics"]["function-movers"]), timeout=5).text
        )
        forged_shown = forged_on_boards(str(status["redis"]))
    # how long the clients the gateway cut off had lasted, as it measured them (the attacker's
    # own view is late when its loop is busy with the storm)
    lasted = gateway_page.buckets("stampede_gateway_client_dropped_after_seconds")
    cut = lasted[-1][1] if lasted else 0.0
    seen["flooders"]["gateway_cut"] = int(cut)
    seen["flooders"]["gateway_cut_within_s"] = (
        next(le for le, n in lasted if n >= cut) if cut else None
    )
    shutil.rmtree(workdir, ignore_errors=True)
    cap = GatewaySettings.model_fields["gateway_max_clients"].default
    calm_p99, attacked_p99 = market_p99(calm), market_p99(attacked)
    # the verdict is on the writer whose boards suffered most: each against itself calm
    worst = worst_writer(calm, attacked)
    held = verdict.hostile_verdict(
        calm_p99.get(worst) if worst else None,
        attacked_p99.get(worst) if worst else None,
        rss_max,
        seen,
        int(admitted_max),
        cap,
        forged_shown,
    )
    print(f"[hostile] held {held.held} {list(held.why_not)}", flush=True)
    return {
        "rate": rate_,
        "seconds": plan.seconds,
        "honest_p99_ms": {"calm": calm_p99, "attacked": attacked_p99, "worst_writer": worst},
        "honest_client": {"calm": calm, "attacked": attacked},
        "gateway_rss_mb_max": round(rss_max, 1),
        "admitted_max": int(admitted_max),
        "cap": cap,
        "attack": seen,
        "refused": {
            "gateway_dropped": gateway_page.by("stampede_gateway_clients_dropped_total", "reason"),
            "gateway_errors": gateway_page.by("stampede_gateway_client_errors_total", "code"),
            "function_dropped": movers_page.by("stampede_function_dropped_total", "reason"),
        },
        "forged_on_boards": forged_shown,
        "verdict": held.as_json(),
    }


MARKET_WRITERS = ("momentum", "movers")  # trade-driven and bar-driven boards


def market_p99(summary: Doc) -> dict[str, float]:
    """The honest client's exchange->client p99 of each market writer's boards."""
    by_writer = summary["exchange_to_client_ms"]
    return {w: by_writer[w]["p99"] for w in MARKET_WRITERS if by_writer.get(w, {}).get("n")}


def worst_writer(calm: Doc, attacked: Doc) -> str | None:
    """The market writer whose p99 grew the most under attack (None: no measure)."""
    before, after = market_p99(calm), market_p99(attacked)
    common = [w for w in MARKET_WRITERS if before.get(w) and w in after]
    return max(common, key=lambda w: after[w] / before[w]) if common else None


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def forged_on_boards(redis_url: str) -> int:
    """Members of any board that name a forged symbol (``attack.FORGED_PREFIX``)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        shown = 0
        for key in client.scan_iter(match=keys.BOARD_PATTERN, count=1000):
            members: list[str] = client.zrange(key, 0, -1)  # type: ignore[assignment]
            shown += sum(1 for m in members if str(m).startswith(attack.FORGED_PREFIX))
        return shown
    finally:
        client.close()
