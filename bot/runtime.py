"""Composition root: the only place real clients are built, and where they are closed (in reverse).

Listeners, services and the relay receive a `Runtime` and never build clients themselves.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.debitura.client import DebituraClient, RetryPolicy
from bot.debitura.ratelimit import Priority, RateLimiter
from bot.metrics import Metrics
from bot.store.connect import cluster_from_url, redis_from_url
from bot.store.keys import Keys
from bot.store.listings import record_listing_end
from bot.store.stores import Stores
from bot.store.workspaces import WorkspaceHandle

INTERACTIVE_RETRY = RetryPolicy(max_wait=5.0)
"""People wait on these calls: a longer Debitura 429 is reported to them, not slept through."""
BACKGROUND_RETRY = RetryPolicy(max_wait=60.0)


@dataclass
class Runtime:
    settings: Settings
    keys: Keys
    redis: aioredis.Redis
    debitura: DebituraClient
    """Interactive traffic (people using /case and modals)."""
    debitura_background: DebituraClient
    """Relay traffic: same connection pool, background priority in the shared limiter."""
    slack: AsyncWebClient
    metrics: Metrics
    limiter: RateLimiter | None = None
    process_id: str = field(
        default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    )
    _stores: Stores | None = field(default=None, init=False, repr=False)
    owns_redis: bool = True
    """False for a workspace's runtime in multi-workspace mode: the Redis client is the deployment's."""
    workspace_id: str | None = None
    """The Slack team (or org) this runtime serves in multi-workspace mode; None in single-workspace mode."""
    workspace: WorkspaceHandle | None = None
    """Multi-workspace mode: this workspace's setup (Debitura settings from App Home); None otherwise."""

    @property
    def stores(self) -> Stores:
        """The state stores (bot/store): over `redis` unless a test set in-memory ones."""
        if self._stores is None:
            self._stores = Stores.in_redis(self.redis, self.keys)
        return self._stores

    @stores.setter
    def stores(self, value: Stores) -> None:
        self._stores = value

    async def aclose(self) -> None:
        await self.debitura.aclose()
        if self.owns_redis:
            await self.redis.aclose()


class CountingRateLimitHandler(AsyncRateLimitErrorRetryHandler):
    """Retries Slack 429s after Retry-After (like the SDK's), counting each one in /metrics."""

    def __init__(self, metrics: Metrics | None, max_retry_count: int = 3) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._metrics = metrics

    async def _can_retry_async(
        self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        limited = response is not None and response.status_code == 429
        if limited and self._metrics is not None:
            method = urlsplit(request.url).path.rstrip("/").rsplit("/", 1)[-1] or "unknown"
            self._metrics.slack_ratelimited.labels(method=method).inc()
        return limited


def build_slack_client(settings: Settings, metrics: Metrics | None = None) -> AsyncWebClient:
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=str(settings.slack_api_url),
        timeout=15,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            CountingRateLimitHandler(metrics, max_retry_count=3),
        ],
    )


def without_rate_limit_retries(client: AsyncWebClient) -> AsyncWebClient:
    """The same Slack client (token, base URL, timeout) whose 429s reach the caller at once.

    For the relay: it pauses the method and channel in Redis for every process (bot/slack/pacing.py)
    and counts the 429 itself, instead of sleeping inside the SDK where no other process sees it.
    """
    handlers = [h for h in client.retry_handlers if not isinstance(h, AsyncRateLimitErrorRetryHandler)]
    return AsyncWebClient(token=client.token, base_url=client.base_url, timeout=client.timeout,
                          retry_handlers=handlers)


def build_redis(settings: Settings) -> aioredis.Redis:
    cluster = settings.cluster_url
    if cluster is not None:
        return build_cluster_redis(cluster)
    return redis_from_url(
        settings.redis_url, decode_responses=True, socket_connect_timeout=5, socket_timeout=10,
        health_check_interval=15, retry_on_timeout=True,
    )


def build_cluster_redis(url: str) -> aioredis.Redis:
    """A Redis (or Valkey) Cluster client. Typed as the plain client: the commands, scripts and
    pipelines Caseroom uses are the same, and every multi-key one names keys of one hash tag
    (`Keys.for_workspace`, `Keys.hash_tagged`), so each runs on one node."""
    client = cluster_from_url(url, decode_responses=True, socket_connect_timeout=5, socket_timeout=10)
    return cast(aioredis.Redis, client)


def base_keys(settings: Settings) -> Keys:
    """The deployment's keys: as configured; on a cluster in single-workspace mode, hash-tagged whole."""
    keys = Keys(settings.caseroom_redis_prefix)
    if settings.cluster_url is not None and not settings.multi_workspace:
        return keys.hash_tagged()
    return keys


def build_limiter(settings: Settings, redis: aioredis.Redis, keys: Keys, metrics: Metrics) -> RateLimiter:
    """The shared Redis budget (every process, every replica). Falls back to no limit only in tests."""
    from bot.store.budget import RedisRateLimiter

    return RedisRateLimiter(redis, keys, settings, metrics)


async def build_runtime(settings: Settings, *, limiter: RateLimiter | None = None) -> Runtime:
    return assemble_runtime(settings, build_redis(settings), base_keys(settings), Metrics(), limiter=limiter)


def assemble_runtime(
    settings: Settings, redis: aioredis.Redis, keys: Keys, metrics: Metrics, *,
    limiter: RateLimiter | None = None, owns_redis: bool = True, workspace_id: str | None = None,
) -> Runtime:
    """A runtime over given Redis, keys and metrics: the deployment's, or one workspace's (bot/tenancy.py)."""
    if limiter is None:
        limiter = build_limiter(settings, redis, keys, metrics)
    debitura = DebituraClient(
        str(settings.debitura_api_url),
        settings.debitura_api_key,
        limiter=limiter,
        priority=Priority.INTERACTIVE,
        metrics=metrics,
        # A person is waiting: sleep through short 429s only; longer ones become "try again in N s".
        retry_policy=INTERACTIVE_RETRY,
        # A listing cut short (repeated page, MAX_PAGES) is kept for `caseroom check`.
        on_listing_end=lambda end: record_listing_end(redis, keys, end),
    )
    return Runtime(
        settings=settings,
        keys=keys,
        redis=redis,
        debitura=debitura,
        debitura_background=debitura.with_priority(Priority.BACKGROUND, retry_policy=BACKGROUND_RETRY),
        slack=build_slack_client(settings, metrics),
        metrics=metrics,
        limiter=limiter,
        owns_redis=owns_redis,
        workspace_id=workspace_id,
    )
