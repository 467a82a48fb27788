"""The Redis-shard dimension of `stampede bench`: `stampede bench functions --redis-cluster N` on a
real local Redis Cluster reports every node with its role, the shards it serves and its CPU (a
short run: figures of record are taken alone, see docs/benchmarks.md); the pipeline bench
passes `--redis-cluster N` to every load and open pipeline it starts."""

from __future__ import annotations

import ast
import re

import pytest

from stampede.tools.bench import functions, pipeline

pytestmark = pytest.mark.slow


def test_cluster_run_reports_cpu_per_node_and_every_shard_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert functions.main(["--redis-cluster", "3", "--seconds", "1.5", "--symbols", "600"]) == 0
    out = capsys.readouterr().out
    applied = int(re.search(r"^applied (\d+) events", out, re.MULTILINE).group(1))
    assert applied > 0
    assert "Redis Cluster: 12 shards over 3 primaries" in out
    nodes = re.findall(
        r"^  (redis-\d) (master|slave)\s+shards (\[[\d, ]*\]): (\d+)% of a core, ([\d.]+) us",
        out,
        re.MULTILINE,
    )
    assert len(nodes) == 6, out
    held = [ast.literal_eval(shards) for _, role, shards, _, _ in nodes if role == "master"]
    assert len(held) == 3 and sorted(s for shards in held for s in shards) == list(range(12))
    assert all(ast.literal_eval(s) == [] for _, role, s, _, _ in nodes if role == "slave")
    assert all(float(us) > 0 for _, role, _, _, us in nodes if role == "master")
    assert re.search(r"^busiest primary redis-\d .* carries [\d,]+ events/s", out, re.MULTILINE)


def test_two_primaries_are_refused_before_anything_starts() -> None:
    with pytest.raises(SystemExit) as refused:
        functions.main(["--redis-cluster", "2"])
    assert refused.value.code == 2


def test_the_pipeline_bench_starts_its_pipelines_on_the_cluster(tmp_path) -> None:
    plan = pipeline.make_plan(pipeline.parse_args(["--redis-cluster", "3"]), tmp_path)
    assert plan.store_argv == ["--redis-cluster", "3"]
    assert pipeline.make_plan(pipeline.parse_args([]), tmp_path).store_argv == []  # one server
