"""Board diffs: what changed between two views of a board, and how to apply it.

A view is the ordered list of rows a subscription shows (each row a dict with ``sym``). The
diff names rows removed, rows added (with their new rank), rows that moved (symbol, new rank)
and fields that changed (``set`` new values, ``unset`` fields that became unknown). Applying a
diff to the old view gives the new view exactly (property-tested), so a client that starts from
a snapshot and applies every diff in sequence always holds what a fresh snapshot would show.

Placement rule for ``apply``: added and moved rows go to their new rank; every other surviving
row keeps the rank it had. That is why a row is "moved" whenever its rank differs, which keeps
the rule trivial for a browser to implement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
View = list[Row]


@dataclass(slots=True)
class Diff:
    removed: list[str] = field(default_factory=list)
    added: list[tuple[int, Row]] = field(default_factory=list)
    moved: list[tuple[str, int]] = field(default_factory=list)
    changed: list[tuple[str, Row, list[str]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.removed or self.added or self.moved or self.changed)

    def to_wire(self) -> dict[str, Any]:
        """The diff fields of a protocol ``diff`` message."""
        return {
            "removed": self.removed,
            "added": [{"rank": rank, "row": row} for rank, row in self.added],
            "moved": [[sym, rank] for sym, rank in self.moved],
            "changed": [
                {"sym": sym, "set": set_, "unset": unset} for sym, set_, unset in self.changed
            ],
        }


def diff(old: View, new: View) -> Diff:
    old_rank = {row["sym"]: i for i, row in enumerate(old)}
    new_syms = {row["sym"] for row in new}
    out = Diff(removed=[row["sym"] for row in old if row["sym"] not in new_syms])
    for rank, row in enumerate(new):
        sym = row["sym"]
        was = old_rank.get(sym)
        if was is None:
            out.added.append((rank, row))
            continue
        if was != rank:
            out.moved.append((sym, rank))
        before = old[was]
        set_ = {k: v for k, v in row.items() if before.get(k, _MISSING) != v}
        unset = [k for k in before if k not in row]
        if set_ or unset:
            out.changed.append((sym, set_, unset))
    return out


_MISSING = object()


def apply(d: Diff, old: View) -> View:
    """The new view; raises ``ValueError`` if the diff does not fit ``old`` (resync then)."""
    size = len(old) - len(d.removed) + len(d.added)
    new: list[Row | None] = [None] * size
    by_sym = {row["sym"]: row for row in old}
    gone = set(d.removed)
    placed: set[str] = set()
    try:
        for rank, row in d.added:
            new[rank] = dict(row)
        for sym, rank in d.moved:
            new[rank] = dict(by_sym[sym])
            placed.add(sym)
        for rank, row in enumerate(old):
            if row["sym"] not in gone and row["sym"] not in placed:
                new[rank] = dict(row)
    except (IndexError, KeyError) as exc:
        raise ValueError(f"diff does not fit the view: {exc!r}") from exc
    rows = [row for row in new if row is not None]
    if len(rows) != size:
        raise ValueError("diff leaves a gap in the view")
    position = {row["sym"]: i for i, row in enumerate(rows)}
    for sym, set_, unset in d.changed:
        if sym not in position:
            raise ValueError(f"changed row {sym!r} not in the view")
        changed = rows[position[sym]]
        changed.update(set_)
        for k in unset:
            changed.pop(k, None)
    return rows


def from_wire(message: dict[str, Any]) -> Diff:
    """Parse the diff fields of a protocol message (the test client and tools use it)."""
    return Diff(
        removed=list(message["removed"]),
        added=[(a["rank"], a["row"]) for a in message["added"]],
        moved=[(sym, rank) for sym, rank in message["moved"]],
        changed=[(c["sym"], c["set"], list(c["unset"])) for c in message["changed"]],
    )
