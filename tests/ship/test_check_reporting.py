"""`caseroom check` reports every part it can: bad settings are lines of the table (once each), the
checks that do not need them still run, and advice fits the API it talks to (the sandbox or Debitura).
In-process: the sandbox app over httpx's ASGI transport, Redis at an address where none listens."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from slack_sdk.web.async_client import AsyncWebClient

from bot import check
from bot.check import Checker, Mark, Report, run_check
from bot.config import TRANSPORT, load_settings, load_settings_for_check
from bot.debitura.client import DebituraClient
from bot.sandbox.app import Sandbox, build_app

NO_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No Caseroom variable in the environment and no .env in the working directory."""
    import os

    for name in list(os.environ):
        if name.startswith(("SLACK_", "DEBITURA_", "REDIS_", "CASEROOM_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def names(report: Report, mark: Mark) -> list[str]:
    return [line.name for line in report.lines if line.mark is mark]


async def test_check_with_badly_shaped_tokens_still_checks_redis_and_debitura(clean_env: None) -> None:
    settings, problems = load_settings_for_check(
        slack_bot_token="not-a-bot-token", slack_app_token="xapp-1", debitura_api_key="k",
        debitura_api_url="http://127.0.0.1:9", redis_url=NO_REDIS,
    )
    assert list(problems) == ["slack_bot_token"]
    report = await run_check(settings, problems=problems)
    settings_lines = [line for line in report.lines if line.name == "settings"]
    assert [line.detail for line in settings_lines] == [problems["slack_bot_token"]]
    assert settings_lines[0].mark is Mark.FAIL and "xoxb-" in settings_lines[0].detail
    assert names(report, Mark.SKIP)[:2] == ["slack auth.test", "slack scopes"]
    # the parts that do not need the bot token were checked (and fail for their own reasons)
    by_name = {line.name: line for line in report.lines}
    assert by_name["redis"].mark is Mark.FAIL and "cannot reach Redis" in by_name["redis"].detail
    debitura = by_name["debitura /me"]
    assert debitura.mark is Mark.FAIL and "cannot reach Debitura" in debitura.detail
    assert by_name["slack transport"].mark is not Mark.SKIP


async def test_check_without_settings_names_each_variable_once(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", NO_REDIS)
    out = io.StringIO()
    code = await _main_in_thread(out)
    text = out.getvalue()
    assert code == 1
    for problem in ("SLACK_BOT_TOKEN is missing", "DEBITURA_API_KEY is missing", "must be set"):
        assert text.count(problem) == 1, text
    assert "cannot start" not in text  # that is `caseroom run`'s sentence, not a check line
    assert text.count("[FAIL] settings") == 3
    # Redis is still checked
    assert "[FAIL] redis            cannot reach Redis at redis://127.0.0.1:1/0" in text


async def _main_in_thread(out: io.StringIO) -> int:
    import asyncio

    return await asyncio.to_thread(check.main, out=out)


def test_check_settings_for_check_replaces_only_the_bad_values(clean_env: None) -> None:
    settings, problems = load_settings_for_check(
        slack_bot_token="xoxb-1", slack_app_token="bad", debitura_api_key="k", caseroom_port="x",
        redis_url="redis://127.0.0.1:6399/2",
    )
    assert set(problems) == {"slack_app_token", "caseroom_port"}  # the app token's line says enough
    assert settings.caseroom_port == 3000 and settings.redis_url == "redis://127.0.0.1:6399/2"
    _, nothing = load_settings_for_check(slack_bot_token="xoxb-1", debitura_api_key="k")
    assert list(nothing) == [TRANSPORT]


async def _webhooks_line(api_url: str, sandbox: Sandbox) -> Any:
    settings = load_settings(slack_bot_token="xoxb-1", slack_signing_secret="s",
                             debitura_api_key="sandbox-key", debitura_api_url=api_url, redis_url=NO_REDIS)
    debitura = DebituraClient(api_url, "sandbox-key", transport=httpx.ASGITransport(app=build_app(sandbox)),
                              max_retries=0)
    redis = aioredis.Redis.from_url(NO_REDIS)
    try:
        checker = Checker(settings, slack=AsyncWebClient(token="xoxb-1"), debitura=debitura, redis=redis)
        checker.debitura_ok = True
        await checker.check_webhooks()
    finally:
        await debitura.aclose()
        await redis.aclose()
    [line] = checker.report.lines
    return line


async def test_check_advice_for_a_disabled_subscription_fits_the_api() -> None:
    sandbox = Sandbox(seed=1, n_cases=5, api_key="sandbox-key")
    sub = sandbox.webhooks.create("http://127.0.0.1:3000/debitura/webhooks", ["case.updated"])
    sandbox.webhooks._disable(sub, "Disabled after 8 failed delivery attempts")
    local = await _webhooks_line("http://127.0.0.1:8080", sandbox)
    assert local.mark is Mark.FAIL and "8 failed delivery attempts" in local.detail
    assert "Partner Portal" not in local.fix
    assert "caseroom sandbox ctl --url http://127.0.0.1:8080 webhooks --enable" in local.fix
    real = await _webhooks_line("https://collectionpartner-api.debitura.com", sandbox)
    assert "Partner Portal" in real.fix and "sandbox" not in real.fix
