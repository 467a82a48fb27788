"""The change notice: how a function tells the gateway that a write touched some boards.

Functions publish one notice on ``sp:changes`` (``stampede.keys.CHANGES_CHANNEL``) after each
applied batch; the gateway ticks the boards it names. Both sides use this one typed struct, so
the contract between the two processes lives here and nowhere else.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Day = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]


class ChangeNotice(msgspec.Struct, frozen=True, omit_defaults=True):
    day: Day  # the ET trading day the write belongs to
    boards: list[str]  # board names whose sorted sets or rows changed
    exchange_ms: int = 0  # newest exchange time in the batch (0 = unknown)
    received_ms: int = 0  # when the bridge read the newest frame (pipeline clock; 0 = unknown)
    traceparent: str = ""  # W3C trace context of the write, when tracing is on


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ChangeNotice)


def encode(notice: ChangeNotice) -> bytes:
    return _encoder.encode(notice)


def decode(raw: str | bytes) -> ChangeNotice:
    """Parse a notice; raises ``msgspec.DecodeError`` (a ValidationError too) when malformed."""
    return _decoder.decode(raw)
