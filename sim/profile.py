"""The intraday trading-intensity profile: how busy each second of an ET day is.

One array of 86,400 per-second weights, summing to 1 over the day, drives both the live
generator (expected trades of a ticker in second ``s`` = its daily trades x ``W[s]``) and the
minute bars served for past days, so the relative-volume-at-time-of-day a scanner learns from
REST matches what the live feed then does. Shape: a quiet pre-market with a 04:00 blip and a
ramp into the open, the opening burst (the stampede) at 09:30, a U through the session, the
closing cross at the close, and a fading after-hours.
"""

from __future__ import annotations

import functools

import numpy as np

SECONDS_PER_DAY = 86_400
PREMARKET_START = 4 * 3600
REGULAR_START = 9 * 3600 + 30 * 60
AFTER_HOURS_END = 20 * 3600


@functools.cache
def second_weights(close_s: int = 16 * 3600) -> np.ndarray:
    """Per-second weights of a day whose regular session closes at ``close_s`` (read-only)."""
    s = np.arange(SECONDS_PER_DAY, dtype=np.float64)
    w = np.zeros(SECONDS_PER_DAY)

    pre = (s >= PREMARKET_START) & (s < REGULAR_START)
    minutes_to_open = (REGULAR_START - s[pre]) / 60.0
    w[pre] = 0.03 + 0.10 * np.exp(-minutes_to_open / 40.0)
    w[(s >= PREMARKET_START) & (s < PREMARKET_START + 60)] *= 4.0  # 04:00 blip
    w[(s >= 8 * 3600) & (s < 8 * 3600 + 120)] *= 2.5  # 08:00 news and economic releases

    reg = (s >= REGULAR_START) & (s < close_s)
    m = (s[reg] - REGULAR_START) / 60.0
    to_close = (close_s - s[reg]) / 60.0
    w[reg] = 0.9 + 4.0 * np.exp(-m / 6.0) + 1.0 * np.exp(-m / 45.0) + 2.5 * np.exp(-to_close / 7.0)
    w[(s >= REGULAR_START) & (s < REGULAR_START + 3)] *= 4.0  # opening crosses
    w[(s >= close_s) & (s < close_s + 2)] = 25.0  # closing crosses print at the close

    post = (s >= close_s + 2) & (s < AFTER_HOURS_END)
    w[post] = 0.02 + 0.25 * np.exp(-(s[post] - close_s) / 1200.0)

    w /= w.sum()
    w.setflags(write=False)
    return w


@functools.cache
def minute_weights(close_s: int = 16 * 3600) -> np.ndarray:
    """Per-minute sums of :func:`second_weights` (1,440 values summing to 1)."""
    w: np.ndarray = second_weights(close_s).reshape(1440, 60).sum(axis=1)
    w.setflags(write=False)
    return w
