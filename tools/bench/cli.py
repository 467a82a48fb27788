"""``stampede bench [STAGE] [options]``: the whole pipeline (default) or one stage alone.

The pipeline benchmark (``pipeline.py``) runs ``stampede up`` and measures what a trader sees;
the stage benchmarks isolate one hop each, so a regression can be pinned on its stage.
"""

from __future__ import annotations

import importlib
import sys

STAGES: dict[str, str] = {
    "pipeline": "the whole scanner under load, the open and the ramp (default)",
    "simulator": "simulator -> one WebSocket reader",
    "bridge": "simulator -> bridge -> JetStream",
    "dispatch": "JetStream -> dispatch -> HTTP",
    "functions": "one function replica -> Redis",
    "gateway": "Redis -> gateway -> many WebSocket clients",
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    stage, rest = ("pipeline", args)
    if args and args[0] in STAGES:
        stage, rest = args[0], args[1:]
    elif args and args[0] in ("-h", "--help") and len(args) == 1:
        print("usage: stampede bench [STAGE] [options]\n\nstages:")
        for name, what in STAGES.items():
            print(f"  {name:<10} {what}")
        print("\nRun `stampede bench STAGE --help` for a stage's options.")
        return 0
    module = importlib.import_module(f"stampede.tools.bench.{stage}")
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
