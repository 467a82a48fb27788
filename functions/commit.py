"""Group commit: every CloudEvent waiting for Redis goes into one script call per shard.

Knative delivers one CloudEvent per request, and a script call per CloudEvent made Redis do
the same per-symbol work once per CloudEvent. Here concurrent requests of one process each
hand their events (split by symbol shard) to :class:`GroupCommit` and wait. A shard with a
free slot flushes at once; while its calls are in flight, newcomers queue, and the next call
takes all of them: one reduction per symbol and one script call for the whole group. A shard
has two slots (``DEPTH``): while Redis runs one call, the process reduces and sends the next,
so Redis never waits for Python (the order of calls does not matter: merges commute).

Idempotency holds per CloudEvent: each part carries its CloudEvent's seen key, and the script
(``seen.lua``) writes nothing when any of them already exists; it answers which ones, they are
answered ``duplicate`` and the rest is sent again. A CloudEvent twice in one group is sent once
(the twin answers ``duplicate``). A request answers only after its part is durably applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

E = TypeVar("E")


@dataclass(slots=True)
class Part(Generic[E]):
    """One CloudEvent's events of one shard, waiting to be committed."""

    event_id: str
    events: Sequence[E]
    exchange_ms: int
    received_ms: int
    traceparent: str | None = None
    future: asyncio.Future[Committed] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(frozen=True, slots=True)
class Flushed:
    """What one script call did: ``duplicates`` = indices (into the parts sent) whose seen key
    existed, in which case nothing was written; else ``changed`` rows and ``boards`` touched."""

    duplicates: tuple[int, ...] = ()
    changed: int = 0
    boards: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Committed:
    """The answer to one part: applied (with what its group did) or a duplicate."""

    applied: bool
    changed: int = 0
    boards: tuple[str, ...] = ()
    group: int = 1  # CloudEvents merged into the call that applied it


DUPLICATE = Committed(applied=False)

Apply = Callable[[int, list[Part[E]]], Awaitable[Flushed]]
DEPTH = 2  # calls in flight per shard: one in Redis, the next being reduced and sent


class GroupCommit(Generic[E]):
    """Merges the parts waiting per shard into one ``apply(shard, parts)`` call at a time."""

    def __init__(self, apply: Apply[E], max_events: int) -> None:
        self._apply = apply
        self._max_events = max_events
        self._waiting: dict[int, list[Part[E]]] = {}
        self._in_flight: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, shard: int, part: Part[E]) -> Committed:
        """Queue ``part`` for ``shard``; returns once it is applied (or is a duplicate)."""
        self._waiting.setdefault(shard, []).append(part)
        self._flush(shard)
        return await part.future

    async def close(self) -> None:
        """Wait for the calls in flight (at shutdown, after the last request)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _flush(self, shard: int) -> None:
        """Start a call with the waiting parts while the shard has a free slot."""
        while self._waiting.get(shard) and self._in_flight.get(shard, 0) < DEPTH:
            self._in_flight[shard] = self._in_flight.get(shard, 0) + 1
            task = asyncio.get_running_loop().create_task(self._run(shard, self._take(shard)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self, shard: int) -> list[Part[E]]:
        """The oldest waiting parts up to ``max_events`` events (at least one part)."""
        waiting = self._waiting[shard]
        total, n = 0, 0
        for part in waiting:
            if n and total + len(part.events) > self._max_events:
                break
            total += len(part.events)
            n += 1
        group, self._waiting[shard] = waiting[:n], waiting[n:]
        return group

    async def _run(self, shard: int, group: list[Part[E]]) -> None:
        try:
            await self._commit(shard, group)
        finally:
            self._in_flight[shard] -= 1
            self._flush(shard)

    async def _commit(self, shard: int, group: list[Part[E]]) -> None:
        first: dict[str, Part[E]] = {}
        twins: list[Part[E]] = []
        for part in group:
            if part.event_id in first:
                twins.append(part)
            else:
                first[part.event_id] = part
        todo = list(first.values())
        try:
            while todo:
                flushed = await self._apply(shard, todo)
                if not flushed.duplicates:
                    done = Committed(True, flushed.changed, flushed.boards, len(todo))
                    for part in todo:
                        _resolve(part, done)
                    break
                duplicate = set(flushed.duplicates)
                for i in duplicate:
                    _resolve(todo[i], DUPLICATE)
                todo = [part for i, part in enumerate(todo) if i not in duplicate]
        except BaseException as exc:
            for part in (*todo, *twins):
                if not part.future.done():
                    part.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for part in twins:
            _resolve(part, DUPLICATE)


def _resolve(part: Part[E], result: Committed) -> None:
    if not part.future.done():  # a request that went away leaves a cancelled future
        part.future.set_result(result)
