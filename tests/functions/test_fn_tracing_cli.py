"""Tracing (the CloudEvent's traceparent continues in the function) and the CLI."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from stampede.functions.halts.func import new
from stampede.functions.host import build_app
from stampede.functions.settings import FunctionSettings
from stampede.market import Channel
from stampede.service import serve_in_background
from stampede.tools.localstack import free_port
from support.functions import at, binary, cloudevent, luld

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_span_continues_the_cloudevent_trace(redis_url, http) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = build_app(
        new(),
        FunctionSettings(redis_url=redis_url),
        provider.get_tracer("test"),
        logging.getLogger("test"),
    )
    port = free_port()
    server, task = await serve_in_background(app, "127.0.0.1", port)
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        headers, body = binary(cloudevent(Channel.LULD, [luld("AAA", at("10:00:00"), 11, 9)]))
        headers["ce-traceparent"] = f"00-{TRACE_ID}-00f067aa0ba902b7-01"  # extension attribute
        answer = await http.post(f"http://127.0.0.1:{port}/", headers=headers, content=body)
        assert answer.status_code == 200
    finally:
        server.should_exit = True
        await task
    spans = {s.name: s for s in exporter.get_finished_spans()}
    process, apply = spans["halts process"], spans["redis apply"]
    assert format(process.context.trace_id, "032x") == TRACE_ID
    assert format(process.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert apply.parent.span_id == process.context.span_id


def test_cli_help_lists_the_functions() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "stampede.tools.cli", "function", "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    assert "movers" in out.stdout and "--port" in out.stdout and "PORT" in out.stdout
