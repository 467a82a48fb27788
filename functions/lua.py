"""Lua scripts as files, run by EVALSHA, and the calling convention every apply script shares.

A script is ``seen.lua`` (the group commit's idempotency markers, see ``commit.py``) followed by
any helper files the owner names (pure Lua functions) and the owner's ``*.lua`` file beside it.
It runs as a ``stampede.redisclient.Script``: loaded once, behind a lock, before its first call
and after a NOSCRIPT (momentum, 24 calls in flight on 12 shards, broke redis-py's cluster
connections when each loaded it itself). Every key a script touches is in KEYS (the seen keys
first), so one call stays within one Cluster slot when its keys share a hash tag.

Arguments: ARGV[1] = number of seen keys, ARGV[2] = their TTL, ARGV[3] = the body's msgpack
payload (an ``array_like`` msgspec Struct defined, once, by the module owning the script).
Reply: ``{0, {dup index, ...}}`` (nothing written) or ``{1, changed}``, or ``{1, changed, 1}``
when the call also touched the boards the caller named as ``maybe`` (only Redis knew).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from stampede.functions.commit import Flushed
from stampede.redisclient import RedisClient, Script

_PRELUDE = Path(__file__).with_name("seen.lua")
_encoder = msgspec.msgpack.Encoder()


class ApplyScript:
    """One apply script: ``seen.lua`` + ``helpers`` + ``path``, with the shared argument and
    reply layout."""

    def __init__(self, redis: RedisClient, path: Path, helpers: tuple[Path, ...] = ()) -> None:
        self.path = path
        parts = [_PRELUDE, *helpers, path]
        self._script = Script(redis, "\n".join(p.read_text() for p in parts))

    async def __call__(
        self,
        seen: list[str],
        seen_ttl: int,
        keys: list[str],
        payload: msgspec.Struct,
        boards: tuple[str, ...],
        maybe: tuple[str, ...] = (),
    ) -> Flushed:
        reply = await self._script([*seen, *keys], [len(seen), seen_ttl, _encoder.encode(payload)])
        if int(reply[0]) == 0:
            return Flushed(duplicates=tuple(int(i) - 1 for i in reply[1]))
        if maybe and len(reply) > 2 and int(reply[2]) == 1:
            boards = tuple(sorted((*boards, *maybe)))
        return Flushed(changed=int(reply[1]), boards=boards)
