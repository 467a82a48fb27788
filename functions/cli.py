"""``stampede function NAME``: serve one scoring function over HTTP (a Knative Service locally)."""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Callable

from fastapi import FastAPI

from stampede.functions import FUNCTIONS
from stampede.functions.host import Handler, build_app
from stampede.functions.settings import FunctionSettings
from stampede.service import load_settings, run
from stampede.telemetry import setup_logging, setup_tracing


def load_handler(name: str) -> Handler:
    """``stampede.functions.<name>.func.new()``, as Knative's func templates do."""
    new: Callable[[], Handler] = importlib.import_module(f"stampede.functions.{name}.func").new
    return new()


def create_app(name: str, settings: FunctionSettings | None = None) -> FastAPI:
    """The ASGI app of one function (used by the CLI, the tests and the benchmark)."""
    settings = settings or FunctionSettings()
    component = f"function-{name}"  # the OTel service name and the logs' `component`
    setup_logging(settings, component)
    log = logging.getLogger(f"stampede.functions.{name}")
    tracer = setup_tracing(settings, component)
    return build_app(load_handler(name), settings, tracer, log)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="stampede function",
        description="Serve one scoring function: CloudEvents over HTTP (POST /) in, Redis "
        "boards out; /healthz, /readyz, /metrics. Configured by environment variables "
        "(see `stampede config`).",
    )
    parser.add_argument("name", choices=FUNCTIONS, help="the function to serve")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument(
        "--port",
        type=int,
        default=8080,
        help="port to listen on (default 8080; $PORT wins when set, as Knative sets it)",
    )
    args = parser.parse_args(argv)
    settings = load_settings(FunctionSettings, "stampede function")
    run(create_app(args.name, settings), args.host, settings.port or args.port)
    return 0
