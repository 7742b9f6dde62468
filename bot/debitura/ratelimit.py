"""The rate-limiter seam every Debitura request passes through.

Interactive traffic (people in Slack) and background traffic (the relay) share one API key, so they
share one limiter. The Redis implementation (bot/store/budget.py) is shared by every process; the
in-process ones here serve tests and single-shot commands.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Priority(StrEnum):
    INTERACTIVE = "interactive"
    BACKGROUND = "background"


class BudgetExhausted(Exception):
    """No request may be sent before `retry_after` seconds (our own budget, before Debitura says 429)."""

    def __init__(self, retry_after: float, window: str = "") -> None:
        self.retry_after = max(0.0, retry_after)
        self.window = window
        super().__init__(f"request budget exhausted ({window or 'limit'}); retry in {self.retry_after:.0f} s")


class RateLimiter(Protocol):
    async def acquire(self, priority: Priority, operation: str) -> None:
        """Take one request slot. Wait briefly if one frees soon; else raise BudgetExhausted."""

    async def penalize(self, retry_after: float) -> None:
        """Debitura answered 429: hold every process back for `retry_after` seconds."""


class UnlimitedLimiter:
    """Takes every request at once; still honours a 429 pause (tests, `caseroom check`)."""

    def __init__(self) -> None:
        self.acquired: list[tuple[Priority, str]] = []
        self.penalties: list[float] = []

    async def acquire(self, priority: Priority, operation: str) -> None:
        self.acquired.append((priority, operation))

    async def penalize(self, retry_after: float) -> None:
        self.penalties.append(retry_after)
