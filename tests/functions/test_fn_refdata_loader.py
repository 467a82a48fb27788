"""Reference-data transforms on hand-made REST answers."""

from __future__ import annotations

from datetime import date

import pytest

from stampede.functions.host import BadEvent
from stampede.functions.refdata.func import parse_request, sessions_before
from stampede.functions.refdata.loader import daily_reference, intraday_profile
from support.functions import at


def test_previous_close_is_the_latest_session_and_adv_the_mean() -> None:
    grouped = {
        "2025-03-12": [{"T": "AAA", "c": 9.0, "v": 100}, {"T": "OLD", "c": 5.0, "v": 10}],
        "2025-03-13": [{"T": "AAA", "c": 10.0, "v": 300}],
    }
    prev_close, adv = daily_reference(grouped)
    assert prev_close == {"AAA": 10.0, "OLD": 5.0}
    assert adv == {"AAA": 200.0, "OLD": 10.0}


def test_profile_is_the_mean_cumulative_fraction_by_minute() -> None:
    d1, d2 = date(2025, 3, 12), date(2025, 3, 13)
    bars = [
        {"t": at("09:30:00", d1), "v": 100},
        {"t": at("09:31:00", d1), "v": 300},
        {"t": at("09:30:00", d2), "v": 300},
        {"t": at("09:31:00", d2), "v": 100},
    ]
    profile, sessions = intraday_profile(bars)
    assert sessions == 2
    assert profile == {570: pytest.approx((0.25 + 0.75) / 2), 571: pytest.approx(1.0)}


def test_sessions_skip_weekends_and_holidays() -> None:
    # 2025-01-20 is Martin Luther King Jr. Day, 18/19 a weekend.
    assert sessions_before(date(2025, 1, 21), 3) == [
        date(2025, 1, 15),
        date(2025, 1, 16),
        date(2025, 1, 17),
    ]


def test_load_request_data() -> None:
    both = ("daily", "fundamentals")
    assert parse_request(b"{}") == (None, False, both)
    assert parse_request(None) == (None, False, both)
    assert parse_request(b'{"date": "2025-03-14", "force": true}') == (
        date(2025, 3, 14),
        True,
        both,
    )
    assert parse_request(b'{"part": "daily"}') == (None, False, ("daily",))
    with pytest.raises(BadEvent, match="part must be one of"):
        parse_request(b'{"part": "everything"}')
    with pytest.raises(BadEvent):
        parse_request(b'{"date": "14/03/2025"}')
    with pytest.raises(BadEvent):
        parse_request(b"[1]")
