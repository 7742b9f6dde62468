"""A Runtime for service tests: real Redis and fake Slack, Debitura behind an httpx transport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import redis.asyncio as aioredis
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.debitura.client import DebituraClient
from bot.debitura.ratelimit import UnlimitedLimiter
from bot.metrics import Metrics
from bot.runtime import Runtime
from bot.store.keys import Keys

Handler = Callable[[httpx.Request], httpx.Response]


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": "xoxb-test-token",
        "slack_signing_secret": "signing-secret",
        "debitura_api_key": "debitura-key",
        "debitura_api_url": "http://debitura.invalid",
    }
    if "caseroom_admin_users" not in overrides and "caseroom_admin_group" not in overrides:
        # Admin-only writes are closed by default; tests that do not care about admins let everyone.
        values["caseroom_admin_users"] = "*"
    values.update(overrides)
    return Settings(_env_file=None, **values)


def users_handler(users: list[dict[str, Any]], calls: list[str] | None = None) -> Handler:
    """Debitura answering GET /users with `users` (one page) and 404 for everything else."""

    def handle(request: httpx.Request) -> httpx.Response:
        if calls is not None:
            calls.append(request.url.path)
        if request.url.path == "/users":
            page = {"totalResults": len(users), "pageSize": 100, "currentPage": 1,
                    "responseCount": len(users), "totalPages": 1}
            return httpx.Response(200, json={"page": page, "users": users})
        return httpx.Response(404, json={"error": "NotFound", "message": "not found", "businessErrors": []})

    return handle


def make_runtime(*, redis: aioredis.Redis, keys: Keys, slack: AsyncWebClient, handler: Handler | None = None,
                 **settings: Any) -> Runtime:
    transport = httpx.MockTransport(handler or users_handler([]))
    debitura = DebituraClient("http://debitura.invalid", "debitura-key", limiter=UnlimitedLimiter(),
                              transport=transport, max_retries=0)
    return Runtime(settings=make_settings(**settings), keys=keys, redis=redis, debitura=debitura,
                   debitura_background=debitura, slack=slack, metrics=Metrics())
