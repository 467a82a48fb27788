"""Running ``stampede bench`` as a user would, for the tests of its scenarios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_bench(args: list[str], out: Path, timeout: float) -> tuple[str, dict[str, Any]]:
    """Run ``stampede bench ARGS --out OUT``; its stdout and its one results document."""
    run = subprocess.run(
        [sys.executable, "-m", "stampede.tools.cli", "bench", *args, "--out", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (path,) = out.glob("*.json")
    return run.stdout, json.loads(path.read_text())
