"""The dashboard's files: the chart library is the pinned, checksummed copy, and no page loads
anything from another origin (no CDN: the gateway serves everything a browser runs)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx

from support.gateway import running_gateway

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "gateway" / "static"


def test_the_vendored_chart_library_matches_its_pinned_checksum():
    done = subprocess.run(
        [str(REPO / "scripts" / "vendor-charts"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "Apache License" in (STATIC / "vendor" / "lightweight-charts.LICENSE").read_text()


def test_pages_load_nothing_from_another_origin():
    for path in [*STATIC.glob("*.html"), *STATIC.glob("*.js"), *STATIC.glob("*.css")]:
        text = path.read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), path.name
        assert not re.search(r"""(import|from)\s*\(?\s*["'](https?:)?//""", text), path.name


async def test_the_gateway_serves_the_chart_library(redis_url):
    async with running_gateway(redis_url) as gw, httpx.AsyncClient(base_url=gw.url) as http:
        page = (await http.get("/")).text
        for src in re.findall(r'src="(/static/[^"]+)"', page):
            answer = await http.get(src)
            assert answer.status_code == 200, src
        lib = await http.get("/static/vendor/lightweight-charts.standalone.production.js")
        assert lib.status_code == 200 and b"Lightweight Charts" in lib.content[:300]
