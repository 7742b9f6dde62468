"""A wall clock the tests can move forward, so expiry rules are tested without sleeping."""

from __future__ import annotations

import time


class FakeClock:
    """`time()` is the real wall clock plus an offset that only `advance()` changes."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen: float | None = None

    def time(self) -> float:
        if self._frozen is not None:
            return self._frozen + self._offset
        return time.time() + self._offset

    def freeze(self) -> None:
        """Stop the wall clock's part (only `advance()` moves time), so a rule that depends on how
        long a burst takes (a token bucket refilling) is tested the same on a slow, loaded machine."""
        if self._frozen is None:
            self._frozen = time.time()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
