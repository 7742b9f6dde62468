"""`caseroom check` and a subscription Debitura disabled: it says so, and `--fix-webhooks` re-enables it
(PUT /webhooks/{id}) only once the URL answers a signed probe the way Caseroom's webhook door does.
In process: the sandbox app over an ASGI transport, a small door on a loopback port, a real Redis."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.check import Checker, Mark
from bot.config import load_settings
from bot.debitura.client import DebituraClient
from bot.debitura.webhooks import InvalidSignature, verify_any
from bot.sandbox.app import Sandbox, build_app
from bot.store.keys import Keys
from bot.store.webhooks import WebhookStore
from tests.fixtures.redis import redis_url

SECRET = base64.b64encode(b"caseroom-check-fix-webhooks-0123").decode()
OTHER = base64.b64encode(b"another-installation-secret-0123").decode()


class Door:
    """A loopback endpoint answering like Caseroom's webhook door (200 for a signed body, else 401)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.bodies: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_any([self.secret], request.headers.get("X-Debitura-Signature"), body)
        except InvalidSignature:
            return web.json_response({"error": "invalid_signature"}, status=401)
        self.bodies.append(json.loads(body))
        return web.json_response({"status": "ignored"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/debitura/webhooks", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/debitura/webhooks"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def door() -> AsyncIterator[Door]:
    d = Door(SECRET)
    await d.start()
    yield d
    await d.stop()


async def check_webhooks(sandbox: Sandbox, *, fix: bool, secret: str | None = SECRET,
                         prefix: str = "caseroom-test:none", create: str | None = None,
                         test_mode: bool = False, test_secret: str | None = None) -> Checker:
    api_url = "https://collectionpartner-api.debitura.com"
    values: dict[str, Any] = dict(slack_bot_token="xoxb-1", slack_signing_secret="s",
                                  debitura_api_key="sandbox-key", debitura_api_url=api_url,
                                  redis_url=redis_url(), caseroom_redis_prefix=prefix)
    if secret is not None:
        values["debitura_webhook_secret"] = secret
    if test_secret is not None:
        values["debitura_webhook_test_secret"] = test_secret
    settings = load_settings(**values)
    debitura = DebituraClient(api_url, "sandbox-key", transport=httpx.ASGITransport(app=build_app(sandbox)),
                              max_retries=0)
    redis = aioredis.Redis.from_url(redis_url(), decode_responses=True)
    try:
        checker = Checker(settings, slack=AsyncWebClient(token="xoxb-1"), debitura=debitura, redis=redis,
                          fix_webhooks=fix, create_webhook=create, webhook_test_mode=test_mode)
        checker.debitura_ok = True
        checker.redis_ok = True
        await checker.check_webhooks()
    finally:
        await debitura.aclose()
        await redis.aclose()
    return checker


def disabled_sandbox(url: str) -> tuple[Sandbox, Any]:
    sandbox = Sandbox(seed=1, n_cases=5, api_key="sandbox-key")
    sub = sandbox.webhooks.create(url, ["case.updated", "chat.created", "case.closed", "case.assigned",
                                        "payment.created", "payment.deleted"])
    sandbox.webhooks._disable(sub, "Disabled after 8 failed delivery attempts")
    return sandbox, sub


async def test_check_says_a_subscription_is_disabled_and_how_to_fix_it(door: Door) -> None:
    sandbox, sub = disabled_sandbox(door.url)
    checker = await check_webhooks(sandbox, fix=False)
    [line] = [ln for ln in checker.report.lines if ln.name == "webhooks"]
    assert line.mark is Mark.FAIL
    assert f"Debitura disabled {door.url}" in line.detail and "8 failed delivery attempts" in line.detail
    assert "caseroom check --fix-webhooks" in line.fix
    assert sub.is_active is False and door.bodies == []  # without --fix-webhooks nothing is touched


async def test_fix_webhooks_reenables_once_the_url_answers(door: Door) -> None:
    sandbox, sub = disabled_sandbox(door.url)
    checker = await check_webhooks(sandbox, fix=True)
    lines = [ln for ln in checker.report.lines if ln.name == "webhooks"]
    assert lines[0].mark is Mark.OK and f"re-enabled {door.url}" in lines[0].detail, lines
    assert sub.is_active is True and sub.disabled_reason is None
    assert len(door.bodies) == 1 and not door.bodies[0]["data"]  # the probe names no case
    assert not checker.report.failed, lines


async def test_fix_webhooks_leaves_it_disabled_when_nothing_answers() -> None:
    sandbox, sub = disabled_sandbox("http://127.0.0.1:9/debitura/webhooks")
    checker = await check_webhooks(sandbox, fix=True)
    first = next(ln for ln in checker.report.lines if ln.name == "webhooks")
    assert first.mark is Mark.FAIL and "not re-enabled: it does not answer" in first.detail
    assert sub.is_active is False


async def test_fix_webhooks_refuses_a_door_with_another_secret(door: Door) -> None:
    sandbox, sub = disabled_sandbox(door.url)
    checker = await check_webhooks(sandbox, fix=True, secret=OTHER)
    first = next(ln for ln in checker.report.lines if ln.name == "webhooks")
    assert first.mark is Mark.FAIL and "refused the signature (401)" in first.detail
    assert sub.is_active is False
    checker = await check_webhooks(sandbox, fix=True, secret=None)
    first = next(ln for ln in checker.report.lines if ln.name == "webhooks")
    assert "DEBITURA_WEBHOOK_SECRET is not set" in first.detail and sub.is_active is False


async def test_check_reports_the_last_reconciliation(door: Door, redis: aioredis.Redis,
                                                     redis_prefix: str) -> None:
    await WebhookStore(redis, Keys(redis_prefix)).record_run(
        {"at": "1", "changed": 3, "queued": 7, "gap_fetches": 2, "requests": 6})
    sandbox, _sub = disabled_sandbox(door.url)
    checker = await check_webhooks(sandbox, fix=False, prefix=redis_prefix)
    [line] = [ln for ln in checker.report.lines if ln.name == "webhook log"]
    assert line.mark is Mark.OK
    assert "3 changed case(s), 7 missed event(s) taken in, 2 fetch(es)" in line.detail


async def test_a_test_mode_subscription_gets_its_own_secret_variable(door: Door) -> None:
    sandbox = Sandbox(seed=1, n_cases=5, api_key="sandbox-key")
    live = await check_webhooks(sandbox, fix=False, create=door.url)
    assert any(n.startswith("  DEBITURA_WEBHOOK_SECRET=") for n in live.report.notes), live.report.notes
    test = await check_webhooks(sandbox, fix=False, create=door.url, test_mode=True)
    assert any(n.startswith("  DEBITURA_WEBHOOK_TEST_SECRET=") for n in test.report.notes), test.report.notes

    # Both active, no DEBITURA_WEBHOOK_TEST_SECRET: one of them cannot be verified.
    checker = await check_webhooks(sandbox, fix=False)
    warned = [ln for ln in checker.report.lines if ln.name == "webhooks" and ln.mark is Mark.WARN]
    assert any("DEBITURA_WEBHOOK_TEST_SECRET is not set" in ln.detail for ln in warned), checker.report.lines
    checker = await check_webhooks(sandbox, fix=False, test_secret=OTHER)
    assert [ln.mark for ln in checker.report.lines if ln.name == "webhooks"] == [Mark.OK]
