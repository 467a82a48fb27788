"""The benchmark's text report from its results document: pure formatting, no I/O.

Every load row shows the strict verdict and the old one beside it (with the figures each rests
on: tail p99 for the strict one, tail p50 for the old one), so a change of definition is seen.
"""

from __future__ import annotations

import re

from stampede.tools.bench import ceiling
from stampede.tools.bench.dayfigures import STORM_WINDOW_S
from stampede.tools.bench.verdict import Doc

REDIS_NODE = re.compile(r"redis-\d+")  # a Redis Cluster's nodes, as `stampede up` names them
CORES = (2, 16, 64)  # machines to predict the held rate on


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f}ms" if seconds < 10 else f"{seconds:.1f}s"


def k(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


def _yes(v: Doc) -> str:
    return "yes" if v["held"] else "no"


def cpu_line(cpu: dict[str, float], top: int | None = None) -> str:
    ordered = sorted(cpu.items(), key=lambda kv: -kv[1])[:top]
    return " ".join(f"{n}={c:.0f}%" for n, c in ordered)


def load_table(runs: list[Doc]) -> str:
    head = (
        f"{'shape':>7} {'offered':>8} {'sent':>7} {'applied':>8} {'%':>6} {'write p50':>9} "
        f"{'p99':>7} {'tail p99':>8} {'tail p50':>8} {'pend/s':>6} {'stale':>5} "
        f"{'strict':>6} {'old':>4} {'exch p99':>8}  top CPU"
    )
    lines = [head]
    for f in runs:
        t = f["throughput_per_s"]
        by_family = f["latency_s"].get("board_write_by_family", {})
        write = by_family.get("market") or f["latency_s"]["pipeline"].get("board_write", {})
        client = f.get("client", {}).get("exchange_to_client_ms", {}).get("momentum", {})
        offered = f["offered_events_per_s"] or 0
        share = t["functions_applied"] / offered * 100 if offered else 0.0
        lines.append(
            f"{f.get('shape', '-'):>7} {k(offered):>8} {k(t['sim_sent']):>7} "
            f"{k(t['functions_applied']):>8} {share:>5.1f}% {ms(write.get('p50')):>9} "
            f"{ms(write.get('p99')):>7} {ms(f['tail_board_write_p99_s']):>8} "
            f"{ms(f['tail_board_write_p50_s']):>8} {f['lag']['pending_slope_per_s']:>6.1f} "
            f"{f['stale_shed']:>5.0f} {_yes(f['strict']):>6} {_yes(f['old']):>4} "
            f"{ms(client['p99'] / 1000) if client.get('p99') is not None else '-':>8}  "
            + cpu_line(f["cpu_percent"], 4)
        )
        catch_up = [
            f"{family} p50 {ms(w['p50'])} p99 {ms(w['p99'])} ({w['n']:.0f})"
            for family, w in by_family.items()
            if family != "market" and w["n"]
        ]
        if catch_up:  # the verdict is on market data; the catch-up families have their own
            lines.append(f"{'':>16} board write of catch-up work: " + "; ".join(catch_up))
        g = f.get("gateway") or {}
        if g.get("cpu_us_per_tick") is not None:
            lines.append(
                f"{'':>16} gateway: {g['ticks_per_s']:.1f} ticks/s, "
                f"{g['changed_rows_per_s']:,.0f} changed rows/s; {g['cpu_us_per_tick']:,.0f} us "
                f"CPU per tick, {g['cpu_us_per_changed_row'] or 0:,.1f} us per changed row"
            )
        nodes = {n: c for n, c in f["cpu_percent"].items() if REDIS_NODE.fullmatch(n)}
        if nodes:  # a Redis Cluster run: each node's share, the cost per shard
            lines.append(f"{'':>16} Redis nodes (% of one core): " + cpu_line(nodes))
        applied = f["throughput_per_s"]["functions_applied"]
        lines += [f"{'':>16} {line}" for line in ceiling.lines(f["cpu_percent"], applied, CORES)]
        by_stage: dict[str, dict[str, float]] = {}
        for process, percent in f["cpu_percent"].items():
            by_stage.setdefault(ceiling.stage_of(process), {})[process] = percent
        for stage, own in sorted(by_stage.items()):  # a --replicas run: each replica's share
            if len(own) > 1:
                lines.append(f"{'':>16} {stage} replicas (% of one core): " + cpu_line(own))
        if f["strict"]["why_not"]:
            lines.append(f"{'':>16} not held (strict): " + "; ".join(f["strict"]["why_not"]))
        if f["drops"]:
            lines.append(
                f"{'':>16} drops: "
                + "; ".join(
                    f"{kind}: " + ", ".join(f"{r}={v:.0f}" for r, v in d.items())
                    for kind, d in f["drops"].items()
                )
            )
    return "\n".join(lines)


def ramp_section(ramps: dict[str, Doc]) -> list[str]:
    out = []
    for shape, r in ramps.items():
        out += [
            "",
            f"RAMP {shape} ({r['window_seconds']:.0f}s per step): highest held (strict) "
            f"{k(r['highest_held_events_per_s'])}, first not held "
            f"{k(r['lowest_not_held_events_per_s'])}; old definition would say "
            f"{k(r['highest_held_old_definition'])}",
            load_table(r["steps"]),
        ]
        if r["cpu_percent_at_highest_held"]:
            out.append(
                "CPU per process at the highest held rate (% of one core): "
                + cpu_line(r["cpu_percent_at_highest_held"])
            )
    return out


def open_section(o: Doc) -> list[str]:
    target = o["target_p99_under_1s_from_0930_05"]
    after = o["lag_under_1s_after_open_s"]
    out = [
        "",
        f"OPEN (market from {o['start']} ET, seed 7, {o['seconds_after_open']:.0f}s after 09:30): "
        f"peak {o['peak_offered_per_s']:,.0f} events/s offered, board-write p99 peak "
        f"{o['peak_board_write_p99_s']:.2f}s, under 1 s for good "
        f"{'never (within the window)' if after is None else f'{after:.0f}s'} after 09:30",
        f"  target p99 < 1 s in every second from 09:30:05: {'met' if target['held'] else 'missed'}"
        f" (late seconds: {len(target['late_seconds'])}, stale CloudEvents shed "
        f"{target['stale_shed']:.0f}); boards = truth: {o['boards_vs_truth']['all_match']}",
        f"{'t':>6} {'offered':>8} {'applied':>8} {'write p50':>9} {'p99':>7} {'shed':>5} "
        f"{'pending':>8}",
    ]
    for p in o["timeline"]:
        if p["t"] >= -5:
            out.append(
                f"{p['t']:>6.0f} {k(p['offered']):>8} {k(p['applied']):>8} "
                f"{ms(p['board_write_p50']):>9} {ms(p['board_write_p99']):>7} "
                f"{p['stale']:>5.0f} {p['pending']:>8.0f}"
            )
    if o["after_open"]:
        out.append(
            "CPU after the open (% of one core): " + cpu_line(o["after_open"]["cpu_percent"])
        )
    return out


def scale_section(ladders: dict[str, list[Doc]]) -> list[str]:
    out = [
        "",
        "SCALE (the same load on every rung; N processes of the busiest function on 1 or 3 Redis"
        " primaries; CPU in % of one core, us = CPU microseconds per applied event)",
    ]
    for shape, rungs in ladders.items():
        busiest = ceiling.busiest_function(rungs[0]["cpu_percent"])
        out.append(
            f"{shape}: busiest function {busiest}\n"
            f"{'primaries':>9} {'procs':>5} {'offered':>8} {'applied':>8} {'%':>6} "
            f"{'tail p99':>8} {'held':>4} {'redis us':>8}  each process: deliveries share, CPU, us"
        )
        for f in rungs:
            store = f["store"]
            applied = f["throughput_per_s"]["functions_applied"]
            offered = f["offered_events_per_s"] or 0
            own = f["applied_per_s_by_function"].get(busiest, 0.0)
            each = ceiling.replicas(
                busiest, f["cpu_percent"], f["deliveries_per_s_by_process"], own
            )
            redis = ceiling.redis_us_per_event(f["cpu_percent"], applied)
            out.append(
                f"{store['redis_primaries']:>9} {len(each):>5} {k(offered):>8} {k(applied):>8} "
                f"{applied / offered * 100 if offered else 0:>5.1f}% "
                f"{ms(f['tail_board_write_p99_s']):>8} {_yes(f['strict']):>4} "
                f"{'-' if redis is None else f'{redis:.1f}':>8}  "
                + "; ".join(
                    f"{r.share * 100:.0f}% {r.cpu_percent:.0f}% "
                    + ("-" if r.us_per_event is None else f"{r.us_per_event:.1f}")
                    for r in each
                )
            )
    return out


def restart_section(r: Doc) -> list[str]:
    out = [
        "",
        f"RESTART ({k(r['rate'])}/s market from {r['sim_start']} ET, a part every "
        f"{r['gap_seconds']:.0f}s): live board-write p99 < 1 s in every second from 5 s after "
        f"each (re)start: {'met' if r['held'] else 'missed'}",
        f"  the day's news so far on the board after {r.get('news_history_caught_up_s')} s "
        "(the news-history Trigger delivered, nothing waiting)",
        f"{'part':>18} {'at':>6} {'caught up':>9} {'worst p99':>9} {'held':>4}  late seconds",
    ]
    for p in r["parts"]:
        caught = "never" if p["caught_up_s"] is None else f"{p['caught_up_s']:.0f}s"
        late = p["late_seconds"]
        out.append(
            f"{p['part']:>18} {p['at_s']:>5.0f}s {caught:>9} {ms(p['worst_p99_s']):>9} "
            f"{'yes' if p['held'] else 'no':>4}  "
            + (", ".join(f"{t:.0f}" for t in late[:12]) + (" ..." if len(late) > 12 else ""))
        )
    redelivered = [p for p in r["timeline"] if p.get("redelivered")]
    out.append(
        "  redelivered CloudEvents (retries, ack waits run out) at: "
        + (", ".join(f"{p['t']:.0f}s ({p['redelivered']})" for p in redelivered[:20]) or "none")
    )
    return out


def hostile_section(r: Doc) -> list[str]:
    a, p99 = r["attack"], r["honest_p99_ms"]
    v = r["verdict"]
    flooders, slow = a["flooders"], a["slow_headers"]
    refused = r["refused"]

    def counts(d: Doc) -> str:
        return ", ".join(f"{key} {value:,.0f}" for key, value in sorted(d.items()) if value) or "-"

    return [
        "",
        f"HOSTILE ({k(r['rate'])}/s market, {r['seconds']:.0f}s calm then {r['seconds']:.0f}s "
        f"attacked): {'met' if v['held'] else 'missed: ' + '; '.join(v['why_not'])}",
        "  honest client exchange->client p99 by writer (calm -> attacked): "
        + ", ".join(
            f"{w} {p99['calm'].get(w)} -> {p99['attacked'].get(w)} ms"
            for w in sorted(set(p99["calm"]) | set(p99["attacked"]))
        )
        + f"; judged on {p99['worst_writer']}; the attacker used "
        f"{a.get('attacker_cpu_percent')} % of a core of this machine",
        f"  gateway RSS peak {r['gateway_rss_mb_max']} MB; connections admitted at most "
        f"{r['admitted_max']} (cap {r['cap']})",
        f"  flooders: the attacker saw {flooders['cut_off']} of {flooders['count']} closed, median "
        f"{flooders['cut_off_after_s_median']} s, last {flooders['cut_off_after_s_max']} s after "
        f"their first message; the gateway cut {flooders.get('gateway_cut')}, each within "
        f"{flooders.get('gateway_cut_within_s')} s of its handshake",
        f"  slow headers: {slow['count']}, longest open {slow['open_s_max']:.1f} s, open past "
        f"15 s: {slow['open_past_15_s']}",
        f"  storm of {a['storm']['count']}: {counts(a['storm']['outcomes'])}",
        f"  forged at {a['forged']['rate']:.0f}/s asked, {a['forged'].get('sent_per_s')}/s sent: "
        f"{counts(a['forged']['status_codes'])}; on the boards: {r['forged_on_boards']}",
        f"  refused by the gateway: {counts(refused['gateway_dropped'])}; errors sent: "
        f"{counts(refused['gateway_errors'])}; by the function: "
        f"{counts(refused['function_dropped'])}",
    ]


def latency_section(runs: list[Doc]) -> list[str]:
    out = [
        "",
        "EXCHANGE -> CLIENT (live clock; ms, as the WebSocket client measured it)",
    ]
    for f in runs:
        by_writer = f["client"]["exchange_to_client_ms"]
        parts = [
            f"{writer} p50 {v['p50']} / p99 {v['p99']} (n={v['n']})"
            for writer, v in sorted(by_writer.items())
        ]
        out.append(
            f"  {f['shape']:>7} {k(f['offered_events_per_s'])}/s: "
            + ("; ".join(parts) or "no diffs received")
            + f"  [clock offset {f['client']['clock_offset_ms']} ms corrected]"
        )
    return out


def report(results: Doc) -> str:
    m = results["machine"]
    out = [
        f"stampede bench  {results['started']}  {m['cpus']} CPUs ({m['cpu_model']}), "
        f"{m['memory_gb']} GB - every process shares them",
        f"speed probe {m.get('speed_probe_ms')} ms at the start, "
        f"{m.get('speed_probe_ms_at_end')} ms at the end (a fixed Python loop: higher = a "
        "slower machine; compare figures only beside like probes)",
    ]
    if "steady" in results:
        out += [
            "",
            "STEADY (simulator load mode; events/s; latency from the bridge reading the frame;"
            " strict = >=99% applied, tail p99 < 500 ms, no stale, pending not growing;"
            " old = >=95%, tail p50 < 1 s, no stale)",
            load_table(results["steady"]),
        ]
    if "ramp" in results:
        out += ramp_section(results["ramp"])
    if "open" in results:
        out += open_section(results["open"])
    if "latency" in results:
        out += latency_section(results["latency"])
    if "scale" in results:
        out += scale_section(results["scale"])
    if "restart" in results:
        out += restart_section(results["restart"])
    if "hostile" in results:
        out += hostile_section(results["hostile"])
    if "day" in results:
        out += day_section(results["day"])
    return "\n".join(out)


def _growth_line(name: str, phases: dict[str, Doc]) -> str:
    cells = []
    for phase in ("premarket", "regular", "after_hours", "closed", "all"):
        if phase in phases:
            g = phases[phase]
            cells.append(f"{phase} {g['per_sim_hour']:+.2f}/h")
    whole = phases.get("all", {})
    return (
        f"  {name:<32} {whole.get('first', 0):>10.1f} -> {whole.get('last', 0):>10.1f} "
        f"(max {whole.get('max', 0):.1f})  " + ", ".join(cells)
    )


def _census_lines(title: str, census: dict[str, dict[str, Doc]]) -> list[str]:
    out = [f"  keys {title}:"]
    for day, kinds in sorted(census.items()):
        parts = [
            f"{kind} {e['keys']}"
            + (
                f" (ttl {e['ttl_min_s'] / 3600:.0f}-{e['ttl_max_s'] / 3600:.0f} h)"
                if e["ttl_max_s"]
                else ""
            )
            + (f" [{e['no_ttl']} without TTL]" if e["no_ttl"] else "")
            for kind, e in sorted(kinds.items())
        ]
        out.append(f"    {day}: " + ", ".join(parts))
    return out


def day_section(d: Doc) -> list[str]:
    s, night = d["switch"], d["night"]
    out = [
        "",
        f"DAY ({d['date']} from {d['start']} ET at {d['speed']:g}x, activity {d['activity']:g}, "
        f"into {d['next_date']}): {d['samples']} samples over {d['wall_seconds']:.0f} s wall, "
        f"simulated {d['first_sim_et']} -> {d['last_sim_et']}",
        "  growth per simulated hour (first -> last, by session):",
    ]
    out += [_growth_line(name, phases) for name, phases in sorted(d["growth"].items())]
    out += _census_lines("after the close", d["keys_after_close"])
    out += _census_lines("at the end", d["keys_at_end"])
    out += [
        f"  keys without TTL: {d['never_expiring_keys']}",
        f"  boards = truth after the close: {d['boards_vs_truth_after_close']['all_match']}",
        "  totals: " + ", ".join(f"{k} {v:,.0f}" for k, v in d["totals"].items()),
        f"  night {night.get('from_et')} -> {night.get('to_et')}: events sent "
        f"{night.get('events_sent')}, pending at its end {night.get('pending_at_end')}",
        f"  day switch: at {s['switch_sim_et']} (on time: {s['on_time']}; "
        f"{s['wall_s_from_first_event_to_switch']} s wall after the first event time), "
        f"days seen {s['days_seen']}",
        f"  reset storm: {s['reset_storm']} ({s['snapshots_in_window']} snapshots in "
        f"{STORM_WINDOW_S:.0f} s; Redis {s['redis_commands_per_s_window']} commands/s vs "
        f"{s['redis_commands_per_s_after_window']} in the {STORM_WINDOW_S:.0f} s after)",
        f"  empty boards after the switch (samples): {s['empty_board_samples'] or 'none'}; "
        f"first rows after the switch (s): {s['first_rows_after_switch_s']}",
        f"  reference data: {d['refdata_loads']}, next day loaded: {d['next_day_reference_loaded']}",
    ]
    return out
