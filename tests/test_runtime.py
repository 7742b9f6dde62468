"""The composition root: interactive and background Debitura traffic get different 429 patience."""

from __future__ import annotations

import httpx
import pytest

from bot.config import load_settings
from bot.debitura.errors import RateLimited
from bot.debitura.ratelimit import Priority, UnlimitedLimiter
from bot.runtime import BACKGROUND_RETRY, INTERACTIVE_RETRY, build_runtime


async def test_runtime_interactive_client_reports_long_429s_instead_of_sleeping() -> None:
    settings = load_settings(
        _env_file=None, slack_bot_token="xoxb-test-token", slack_signing_secret="s" * 32,
        debitura_api_key="k" * 20, debitura_api_url="http://127.0.0.1:9", redis_url="redis://127.0.0.1:6379/0",
    )
    runtime = await build_runtime(settings, limiter=UnlimitedLimiter())
    try:
        assert runtime.debitura.priority is Priority.INTERACTIVE
        assert runtime.debitura_background.priority is Priority.BACKGROUND
        assert runtime.debitura.retry is INTERACTIVE_RETRY
        assert runtime.debitura_background.retry is BACKGROUND_RETRY
        assert INTERACTIVE_RETRY.max_wait < BACKGROUND_RETRY.max_wait
    finally:
        await runtime.aclose()


async def test_interactive_retry_policy_raises_rate_limited_for_a_long_wait() -> None:
    from bot.debitura.client import DebituraClient

    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": "rate_limit_exceeded", "message": "slow down", "retryAfter": 42.0}
        return httpx.Response(429, json=body)

    client = DebituraClient(
        "http://sandbox.invalid", "key-123456", transport=httpx.MockTransport(handler), sleep=sleep,
        retry_policy=INTERACTIVE_RETRY,
    )
    try:
        with pytest.raises(RateLimited) as info:
            await client.me()
    finally:
        await client.aclose()
    assert info.value.retry_after == pytest.approx(42.0)
    assert sleeps == []
