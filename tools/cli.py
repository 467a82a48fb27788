"""The ``stampede`` command: one subcommand per deployable.

Each deployable owns its own argument parser (``<package>.cli:main(argv) -> int``); this file
only routes, so ``stampede bridge --help`` is the bridge's own help.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "sim": ("stampede.sim.cli", "Run the protocol-faithful Massive simulator (WebSocket + REST)."),
    "bridge": (
        "stampede.bridge.cli",
        "Run the feed bridge: Massive WebSocket -> CloudEvents on JetStream.",
    ),
    "dispatch": (
        "stampede.dispatch.cli",
        "Run the local broker: JetStream -> function services, per the Triggers.",
    ),
    "function": ("stampede.functions.cli", "Serve one scoring function (stampede function NAME)."),
    "gateway": (
        "stampede.gateway.cli",
        "Serve the boards as WebSocket diffs, REST and the dashboard.",
    ),
    "up": ("stampede.tools.up", "Run the whole scanner locally on private NATS and Redis."),
    "top": (
        "stampede.tools.top",
        "Watch live rates, lag, drops and latency of a running `stampede up`.",
    ),
    "config": (
        "stampede.tools.config_table",
        "Print every environment variable each component reads.",
    ),
    "bench": ("stampede.tools.bench.cli", "Run the end-to-end benchmarks and print their figures."),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: stampede COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `stampede COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"stampede: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
