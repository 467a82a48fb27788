"""The gateway refuses a configuration it cannot serve rightly."""

from __future__ import annotations

import pydantic
import pytest

from stampede.gateway.settings import GatewaySettings


def test_more_than_one_redis_shard_is_refused_not_shown_as_a_partial_board() -> None:
    assert GatewaySettings(redis_shards=1).redis_shards == 1
    with pytest.raises(pydantic.ValidationError, match="does not merge symbol shards"):
        GatewaySettings(redis_shards=2)
