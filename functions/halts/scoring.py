"""Halts: LULD bands on the row, and the halts board from indicators 17 (halt) / 18 (resume).

Pure: LULD events in, row writes out. Two independent clocks per symbol - the bands and the
halt state - each only moves forward in exchange time (``t``, then the sequence ``q``), so a
late band update cannot undo a newer halt or the other way round. The halts board ranks by
the time of the latest halt or resume (so a resumed symbol stays on it for the day); the row's
``halted`` says which it was, ``halt_start_ms`` when the halt began and ``resume_ms`` when it
ended (absent while halted), so a reader shows the halt's duration: ``resume_ms`` minus
``halt_start_ms``. LULD halts and resumes are sent for Nasdaq-listed symbols only.

The bands also rank the ``near_luld`` board (last within 1 % of a band): a band write is
flagged ``near_band`` and ``rows.lua`` re-ranks the symbol from its row, where movers' last
price is, and records the bands for movers' writes (movers flags its writes the same way).
"""

from __future__ import annotations

from collections.abc import Iterable

from stampede.functions.plan import RowWrite
from stampede.market import LULD_HALT, LULD_RESUME, Luld, to_millis
from stampede.markettime import trading_day

BANDS_CLOCK = "luld"
HALT_CLOCK = "halt"


def _newest(events: Iterable[tuple[int, Luld]]) -> dict[str, tuple[int, Luld]]:
    newest: dict[str, tuple[int, Luld]] = {}
    for ms, event in events:
        seen = newest.get(event.T)
        if seen is None or (ms, event.q) >= (seen[0], seen[1].q):
            newest[event.T] = (ms, event)
    return newest


def score_batch(events: Iterable[Luld]) -> list[RowWrite]:
    timed = [(to_millis(e.t), e) for e in events]
    writes = []
    for sym, (ms, e) in _newest(timed).items():
        writes.append(
            RowWrite(
                day=trading_day(ms),
                sym=sym,
                clock=BANDS_CLOCK,
                t=ms,
                tie=e.q,
                fields={"luld_upper": e.h, "luld_lower": e.l},
                static={"sym": sym},
                near_band=True,
                sets_bands=True,
            )
        )
    status = [(ms, e) for ms, e in timed if LULD_HALT in e.i or LULD_RESUME in e.i]
    halts = _newest((ms, e) for ms, e in status if _is_halt(e))
    for sym, (ms, e) in _newest(status).items():
        fields: dict[str, object] = {"halt_time": str(ms)}
        if _is_halt(e):
            # a new halt: its start, and no resume yet ('' is "unknown" to every reader)
            fields.update(halted="1", halt_start_ms=str(ms), resume_ms="")
        else:
            fields.update(halted="0", resume_ms=str(ms))
            if sym in halts:  # the halt it ends came in the same batch
                fields["halt_start_ms"] = str(halts[sym][0])
        writes.append(
            RowWrite(
                day=trading_day(ms),
                sym=sym,
                clock=HALT_CLOCK,
                t=ms,
                tie=e.q,
                fields=fields,
                static={"sym": sym},
                scores={"halts": float(ms)},
            )
        )
    return writes


def _is_halt(event: Luld) -> bool:
    return LULD_HALT in event.i and LULD_RESUME not in event.i
