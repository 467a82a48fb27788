"""Events kept column-wise (numpy arrays) until the moment they are sent.

The generator works on whole seconds of the market at once; a batch of one channel's events is
a set of equal-length arrays plus the ticker index. Python objects are only built for events
that some connection actually subscribed to, right before they are encoded with the shared
msgspec structs (``stampede.market``), so field names and types cannot drift from what the
bridge decodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from stampede.conditions import eligibility
from stampede.market import (
    Aggregate,
    Channel,
    Imbalance,
    Luld,
    MinuteAggregate,
    Quote,
    Trade,
    encode,
)

# Trade condition sets the generator draws from, by code (index into this table).
CONDITION_SETS: tuple[tuple[int, ...], ...] = (
    (),  # 0 regular: ``c`` absent
    (37,),  # 1 odd lot: volume only
    (14,),  # 2 intermarket sweep: fully eligible
    (12,),  # 3 Form T (extended hours): volume only
    (41,),  # 4 trade-through exempt: fully eligible
    (2,),  # 5 average price: volume only
    (7,),  # 6 cash sale: volume only
    (10,),  # 7 high/low and volume, not last
    (14, 37),  # 8 odd-lot sweep: volume only
)
COND_LISTS: tuple[list[int], ...] = tuple(list(c) for c in CONDITION_SETS)
_ELIG = [eligibility(c) for c in CONDITION_SETS]
UPDATES_LAST = np.array([e.last for e in _ELIG])
UPDATES_HIGH_LOW = np.array([e.high_low for e in _ELIG])
UPDATES_VOLUME = np.array([e.volume for e in _ELIG])
REGULAR, ODD_LOT, SWEEP, FORM_T, TRADE_THRU, AVG_PRICE, CASH, HIGH_LOW_ONLY, ODD_SWEEP = range(9)

LULD_NONE, LULD_HALT_CODE, LULD_RESUME_CODE = 0, 17, 18

# The selected events' columns as Python values (numpy's ``tolist``), by field name.
Fields = dict[str, list[Any]]
EventEncoder = Callable[[list[str], Fields], list[bytes]]


@dataclass(slots=True)
class Columns:
    """One channel's events: ``sym`` (ticker index), ``time`` (ms: when it may be sent) and
    channel-specific columns, all the same length, in send order."""

    channel: Channel
    sym: np.ndarray
    time: np.ndarray
    cols: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.sym)

    def slice(self, lo: int, hi: int) -> Columns:
        return Columns(
            self.channel,
            self.sym[lo:hi],
            self.time[lo:hi],
            {k: v[lo:hi] for k, v in self.cols.items()},
        )

    def encode(self, symbols: list[str], sel: np.ndarray | None = None) -> list[bytes]:
        """JSON bytes of each selected event, exactly as Massive sends it."""

        def take(a: np.ndarray) -> list[Any]:
            values: list[Any] = (a if sel is None else a[sel]).tolist()
            return values

        names = [symbols[i] for i in take(self.sym)]
        c = {k: take(v) for k, v in self.cols.items()}
        return _ENCODERS[self.channel](names, c)


def _default(cls: type[msgspec.Struct], name: str) -> object:
    """The struct's own default object: msgspec's ``omit_defaults`` omits a value only when it
    IS that object, so "no official open yet" must pass it to leave ``op`` out, as Massive does."""
    fields = cls.__struct_fields__[-len(cls.__struct_defaults__) :]
    return dict(zip(fields, cls.__struct_defaults__))[name]


def _encode_aggregates(cls: type[Aggregate]) -> EventEncoder:
    no_open = _default(cls, "op")
    assert isinstance(no_open, float)

    def run(names: list[str], c: Fields) -> list[bytes]:
        return [
            encode(
                cls(
                    sym=n,
                    v=v,
                    av=av,
                    op=op or no_open,
                    vw=vw,
                    o=o,
                    c=cl,
                    h=h,
                    l=lo,
                    a=a,
                    z=z,
                    s=s,
                    e=e,
                )
            )
            for n, v, av, op, vw, o, cl, h, lo, a, z, s, e in zip(
                names,
                c["v"],
                c["av"],
                c["op"],
                c["vw"],
                c["o"],
                c["c"],
                c["h"],
                c["l"],
                c["a"],
                c["z"],
                c["s"],
                c["e"],
            )
        ]

    return run


def _encode_trades(names: list[str], c: Fields) -> list[bytes]:
    out = []
    for n, p, s, t, x, i, z, cond, q, trfi, trft in zip(
        names, c["p"], c["s"], c["t"], c["x"], c["i"], c["z"], c["c"], c["q"], c["trfi"], c["trft"]
    ):
        if trfi:
            ev = Trade(
                sym=n,
                p=p,
                s=s,
                t=t,
                x=x,
                i=str(i),
                z=z,
                c=COND_LISTS[cond],
                q=q,
                trfi=trfi,
                trft=trft,
            )
        else:
            ev = Trade(sym=n, p=p, s=s, t=t, x=x, i=str(i), z=z, c=COND_LISTS[cond], q=q)
        out.append(encode(ev))
    return out


def _encode_quotes(names: list[str], c: Fields) -> list[bytes]:
    return [
        encode(Quote(sym=n, bx=bx, bp=bp, bs=bs, ax=ax, ap=ap, as_=as_, c=0, t=t, q=q, z=z))
        for n, bx, bp, bs, ax, ap, as_, t, q, z in zip(
            names, c["bx"], c["bp"], c["bs"], c["ax"], c["ap"], c["as"], c["t"], c["q"], c["z"]
        )
    ]


def _encode_luld(names: list[str], c: Fields) -> list[bytes]:
    return [
        encode(Luld(T=n, h=h, l=lo, i=[i] if i else [], z=z, t=t, q=q))
        for n, h, lo, i, z, t, q in zip(names, c["h"], c["l"], c["i"], c["z"], c["t"], c["q"])
    ]


def _encode_imbalances(names: list[str], c: Fields) -> list[bytes]:
    return [
        encode(Imbalance(T=n, t=t, at=at, a=a, x=x, o=o, p=p, b=b, q=q))
        for n, t, at, a, x, o, p, b, q in zip(
            names, c["t"], c["at"], c["a"], c["x"], c["o"], c["p"], c["b"], c["q"]
        )
    ]


_ENCODERS: dict[Channel, EventEncoder] = {
    Channel.AGGREGATE: _encode_aggregates(Aggregate),
    Channel.MINUTE_AGGREGATE: _encode_aggregates(MinuteAggregate),
    Channel.TRADE: _encode_trades,
    Channel.QUOTE: _encode_quotes,
    Channel.LULD: _encode_luld,
    Channel.IMBALANCE: _encode_imbalances,
}
