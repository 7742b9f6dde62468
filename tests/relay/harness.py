"""In-process relays wired to the sandbox, the fake Slack and the test Redis (shared by relay tests)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis

from bot.config import Settings
from bot.debitura.client import DebituraClient
from bot.debitura.ratelimit import Priority
from bot.metrics import Metrics
from bot.relay.service import Relay, RelayOptions
from bot.runtime import Runtime, build_slack_client
from bot.store.budget import RedisRateLimiter
from bot.store.keys import Keys
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.redis import redis_url

T = TypeVar("T")


def relay_settings(fake: FakeSlack, sandbox_url: str, api_key: str, prefix: str, redis: str | None = None,
                   **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        slack_bot_token=fake.bot_token, slack_signing_secret=fake.signing_secret, slack_api_url=fake.api_url,
        debitura_api_key=api_key, debitura_api_url=sandbox_url, redis_url=redis or redis_url(),
        caseroom_redis_prefix=prefix, caseroom_max_staleness=60, caseroom_relay_sweep_interval=1,
        caseroom_relay_min_interval=1, caseroom_relay_lease=3, caseroom_relay_fetch_workers=2,
        caseroom_relay_delivery_workers=3,
        # Sweeping every second would not fit the real daily budget; tests are about behaviour, not budget.
        caseroom_rate_per_minute=100_000, caseroom_rate_per_hour=1_000_000, caseroom_rate_per_day=20_000_000,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


async def build_test_runtime(settings: Settings) -> Runtime:
    keys = Keys(settings.caseroom_redis_prefix)
    redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    metrics = Metrics()
    limiter = RedisRateLimiter(redis, keys, settings, metrics)
    debitura = DebituraClient(str(settings.debitura_api_url), settings.debitura_api_key, limiter=limiter,
                              priority=Priority.INTERACTIVE, metrics=metrics, timeout=10)
    return Runtime(settings=settings, keys=keys, redis=redis, debitura=debitura,
                   debitura_background=debitura.with_priority(Priority.BACKGROUND),
                   slack=build_slack_client(settings), metrics=metrics, limiter=limiter)


async def close_runtime(runtime: Runtime) -> None:
    await runtime.aclose()
    session = runtime.slack.session
    if session is not None and not session.closed:
        await session.close()


def test_options(**kw: Any) -> RelayOptions:
    base: dict[str, Any] = dict(fetch_workers=2, delivery_workers=3, lease_seconds=3.0, idle_sleep=0.1,
                                first_spread=1.0, stop_timeout=10.0)
    base.update(kw)
    return RelayOptions(**base)


async def start_relay(settings: Settings, **options: Any) -> Relay:
    runtime = await build_test_runtime(settings)
    relay = Relay(runtime, test_options(**options))
    await relay.start()
    return relay


async def stop_relay(relay: Relay, graceful: bool = True) -> None:
    await relay.stop(graceful=graceful)
    await close_runtime(relay.runtime)


async def wait_until(check: Callable[[], Awaitable[T | None]], timeout: float = 30.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.1)


def relayed_items(fake: FakeSlack, channel_id: str) -> list[tuple[str, str]]:
    """(item id, text) of every bot message in the channel that carries our metadata, oldest first
    (the pinned case summary, stamped too, is not a relayed item: `summaries` lists it)."""
    out: list[tuple[str, str]] = []
    for message in fake.journal.messages(channel_id, bot_only=True):
        raw = message.metadata if hasattr(message, "metadata") else None
        meta = raw if isinstance(raw, dict) else (json.loads(raw) if isinstance(raw, str) else {})
        payload = (meta or {}).get("event_payload") or {}
        if payload.get("item_id") and payload["item_id"] != "summary":
            out.append((str(payload["item_id"]), str(getattr(message, "text", ""))))
    return out


SUMMARY_MARK = "Kept current by Caseroom"
"""The line only the pinned case summary has (blocks.summary)."""


def summaries(fake: FakeSlack, channel_id: str) -> list[Any]:
    """The case summary messages in the channel, oldest first."""
    return [m for m in fake.journal.messages(channel_id, bot_only=True)
            if SUMMARY_MARK in json.dumps(getattr(m, "blocks", None) or [])]
