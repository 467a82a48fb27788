"""The curl example in docs/functions.md, run exactly as written (with curl) against a server."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from stampede import keys

DOC = Path(__file__).resolve().parents[2] / "docs" / "functions.md"


def curl_example() -> str:
    text = DOC.read_text()
    block = re.search(r"<!-- curl-example:start -->\s*```sh\n(.*?)```", text, re.DOTALL)
    assert block, "curl example block missing from docs/functions.md"
    return block.group(1)


async def run_curl(command: str, url: str) -> str:
    command = command.replace("http://127.0.0.1:8080/", url + "/")
    proc = await asyncio.create_subprocess_shell(command, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return out.decode()


async def test_the_documented_curl_example_changes_the_board(function_server, redis) -> None:
    command = curl_example()
    assert "curl -sS -X POST http://127.0.0.1:8080/" in command
    async with function_server("movers") as url:
        answer = json.loads(await run_curl(command, url))
        again = json.loads(await run_curl(command, url))
    assert answer["status"] == "applied" and answer["id"] == "docs-example-1"
    assert again["status"] == "duplicate"
    day = "2025-03-14"
    assert await redis.zrange(keys.board(day, "volume"), 0, -1, withscores=True) == [
        ("SPCE", 8642007.0)
    ]
    [(sym, score)] = await redis.zrange(keys.board(day, "from_open"), 0, -1, withscores=True)
    assert sym == "SPCE" and abs(score - (27.1 - 25.66) / 25.66 * 100) < 1e-9
    assert await redis.zrange(keys.board(day, "gainers"), 0, -1) == []
    assert await redis.hget(keys.row(day, "SPCE"), "has_reference") == "0"
