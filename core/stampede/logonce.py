"""Log each kind of trouble once, then only count it.

At 100k events/s a repeated warning is a flood that hides the first, useful line and costs CPU.
Every service logs the first occurrence of a kind (with a sample) and leaves the rest to its
metrics; ``reset`` re-arms after recovery, so the next outage is logged again.
"""

from __future__ import annotations

import logging


class LogOnce:
    def __init__(self, logger: logging.Logger, level: int = logging.WARNING) -> None:
        self._logger = logger
        self._level = level
        self._logged: set[str] = set()

    def __call__(self, kind: str, message: str, *args: object) -> bool:
        """Log ``message % args`` if ``kind`` was not logged since the last reset; True if so."""
        if kind in self._logged:
            return False
        self._logged.add(kind)
        self._logger.log(self._level, message, *args)
        return True

    def reset(self) -> None:
        self._logged.clear()
