"""Record and replay feed files: JSON lines of frames exactly as they were received.

A line is either a bare frame (``[{...},...]``, as a client would log what it read) or
``{"ms": <simulated send time, Unix ms>, "frame": [...]}`` as ``--record`` writes it. Bare
frames are timed by their events: a trade/quote/LULD/imbalance at its own timestamp (unit
inferred), a bar at its window end plus the aggregate delay. Replay keeps the original spacing,
scaled by ``--speed``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec

from stampede.market import to_millis

log = logging.getLogger(__name__)


class Recorder:
    def __init__(self, path: str | Path) -> None:
        self._file = open(path, "ab", buffering=1024 * 1024)  # noqa: SIM115 - closed by close()

    def write(self, sim_ms: int, frame: bytes) -> None:
        self._file.write(b'{"ms":%d,"frame":%s}\n' % (sim_ms, frame))

    def close(self) -> None:
        self._file.close()


def frame_time(items: list[Any], agg_delay_ms: int) -> int | None:
    """When a bare recorded frame was sent, from its newest event timestamp."""
    best = None
    for item in items:
        if not isinstance(item, dict):
            continue
        if item.get("ev") in ("A", "AM") and isinstance(item.get("e"), int):
            ms = item["e"] + agg_delay_ms
        elif isinstance(item.get("t"), int):
            ms = to_millis(item["t"])
        else:
            continue
        best = ms if best is None else max(best, ms)
    return best


class ReplaySource:
    """Frames of a recording, released when the (replay) clock reaches their time."""

    def __init__(self, path: str | Path, agg_delay_ms: int = 2000) -> None:
        self.frames: list[tuple[int, bytes, list[dict[str, Any]]]] = []
        last = None
        bad = 0
        for line in Path(path).read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                doc = msgspec.json.decode(line)
            except msgspec.DecodeError:
                bad += 1
                continue
            if isinstance(doc, dict) and isinstance(doc.get("frame"), list):
                items, ms = doc["frame"], doc.get("ms")
                raw = msgspec.json.encode(items)
            elif isinstance(doc, list):
                items, ms, raw = doc, frame_time(doc, agg_delay_ms), line.strip()
            else:
                bad += 1
                continue
            ms = ms if isinstance(ms, int) else last
            if ms is None:
                ms = 0
            last = ms if last is None else max(last, ms)
            self.frames.append((last, raw, [i for i in items if isinstance(i, dict)]))
        if bad:
            log.warning("replay file %s: skipped %d unreadable lines", path, bad)
        self.cursor = 0

    @property
    def start_ms(self) -> int:
        return self.frames[0][0] if self.frames else 0

    @property
    def finished(self) -> bool:
        return self.cursor >= len(self.frames)

    def due(self, now_ms: int) -> list[tuple[bytes, list[dict[str, Any]]]]:
        out = []
        while self.cursor < len(self.frames) and self.frames[self.cursor][0] <= now_ms:
            _, raw, items = self.frames[self.cursor]
            out.append((raw, items))
            self.cursor += 1
        return out
