"""A wall clock the tests can move forward, so expiry rules are tested without sleeping."""

from __future__ import annotations

import time


class FakeClock:
    """`time()` is the real wall clock plus an offset that only `advance()` changes."""

    def __init__(self) -> None:
        self._offset = 0.0

    def time(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
