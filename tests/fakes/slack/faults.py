"""Fault injection: make any Web API method answer an error code, a 429, a 500, or slowly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.fakes.slack.errors import SlackError


@dataclass
class Fault:
    """One injected behaviour. `times=None` means every matching call; otherwise it expires."""

    method: str
    error: str | None = None
    status: int = 200
    retry_after: int | None = None
    latency: float = 0.0
    times: int | None = 1
    when: Callable[[Mapping[str, Any]], bool] | None = None
    hits: int = 0

    def matches(self, method: str, args: Mapping[str, Any]) -> bool:
        if self.method not in (method, "*"):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        return self.when is None or self.when(args)

    def error_response(self) -> SlackError | None:
        if self.retry_after is not None:
            return SlackError("ratelimited", status=429, headers={"Retry-After": str(self.retry_after)})
        if self.status >= 500:
            return SlackError(self.error or "internal_error", status=self.status)
        if self.error:
            return SlackError(self.error, status=self.status)
        return None


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        latency: float = 0.0,
        times: int | None = 1,
        when: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Fault:
        """Inject into `method` ("*" for all). Combine `latency` with an answer, or use it alone.

        error="channel_not_found" -> {"ok": false, "error": ...}; retry_after=N -> HTTP 429 with
        Retry-After: N and "ratelimited"; status=500 -> an HTTP 500 answer.
        """
        if error is None and retry_after is None and status < 500 and latency <= 0:
            raise ValueError("a fault needs an error, a retry_after, a 5xx status or a latency")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for always")
        fault = Fault(method, error, status, retry_after, latency, times, when)
        self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        self._faults.remove(fault)

    def clear(self) -> None:
        self._faults.clear()

    async def apply(self, method: str, args: Mapping[str, Any]) -> None:
        for fault in list(self._faults):
            if not fault.matches(method, args):
                continue
            fault.hits += 1
            if fault.latency > 0:
                await asyncio.sleep(fault.latency)
            answer = fault.error_response()
            if answer is not None:
                raise answer
