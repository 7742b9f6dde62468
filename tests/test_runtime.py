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


def test_relay_slack_client_leaves_429s_to_the_relay() -> None:
    """The relay pauses in Redis for every process, so its client must not sleep through 429s itself."""
    from slack_sdk.http_retry.builtin_async_handlers import (
        AsyncConnectionErrorRetryHandler,
        AsyncRateLimitErrorRetryHandler,
    )

    from bot.runtime import build_slack_client, without_rate_limit_retries

    settings = load_settings(
        _env_file=None, slack_bot_token="xoxb-test-token", slack_signing_secret="s" * 32,
        debitura_api_key="k" * 20, slack_api_url="http://127.0.0.1:9/api/",
    )
    shared = build_slack_client(settings)
    relay = without_rate_limit_retries(shared)
    assert any(isinstance(h, AsyncRateLimitErrorRetryHandler) for h in shared.retry_handlers)
    assert not any(isinstance(h, AsyncRateLimitErrorRetryHandler) for h in relay.retry_handlers)
    assert any(isinstance(h, AsyncConnectionErrorRetryHandler) for h in relay.retry_handlers)
    assert (relay.token, relay.base_url, relay.timeout) == (shared.token, shared.base_url, shared.timeout)
