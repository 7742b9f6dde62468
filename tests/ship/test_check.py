"""`caseroom check` against the fake Slack, the sandbox and a real Redis: a good setup passes, every
bad piece is named with its fix."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bot.check import REQUIRED_SCOPES, Mark, Report, render, run_check, staleness_bound
from bot.config import Settings, load_settings
from tests.fixtures.redis import new_prefix, redis_url
from tests.ship.conftest import REPO, ThreadedSlack, base_env, unreachable_url


@pytest.fixture
def scopes(threaded_slack: ThreadedSlack) -> Iterator[list[str]]:
    """The scopes the fake Slack reports; restored after the test."""
    saved = list(threaded_slack.fake.scopes)
    yield threaded_slack.fake.scopes
    threaded_slack.fake.scopes[:] = saved


def good_settings(slack: ThreadedSlack, sandbox: Any, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": slack.fake.bot_token, "slack_app_token": slack.fake.app_token,
        "slack_api_url": slack.api_url, "debitura_api_key": sandbox.api_key, "debitura_api_url": sandbox.url,
        "redis_url": redis_url(), "caseroom_redis_prefix": new_prefix(),
        "caseroom_admin_users": ["U0ADMIN01"],
    }
    values.update(overrides)
    return load_settings(**values)


def line(report: Report, name: str) -> Any:
    found = [entry for entry in report.lines if entry.name == name]
    assert len(found) == 1, f"{name}: {report.lines}"
    return found[0]


async def test_check_good_setup_passes_with_details(threaded_slack: ThreadedSlack, sandbox: Any) -> None:
    report = await run_check(good_settings(threaded_slack, sandbox))
    assert not report.failed, render(report)
    assert line(report, "settings").detail.startswith("loaded; Socket Mode")
    assert "team Caseroom Fake" in line(report, "slack auth.test").detail
    assert line(report, "slack scopes").mark is Mark.OK
    assert line(report, "slack transport").detail == "Socket Mode: app token accepted"
    assert line(report, "debitura /me").mark is Mark.OK
    users = line(report, "debitura /users")
    assert users.mark is Mark.OK and re.match(r"\d+ team member", users.detail)
    assert line(report, "redis").detail.startswith("Redis ")
    assert line(report, "admins").detail == "1 admin user(s)"
    budget = line(report, "relay budget")
    assert budget.mark is Mark.OK
    assert "relay may use 60000/day" in budget.detail
    # no subscription in a fresh sandbox: a warning with the command that fixes it
    hooks = line(report, "webhooks")
    assert hooks.mark is Mark.WARN and "--create-webhook" in hooks.fix


async def test_check_bad_setup_names_each_failure_and_its_fix(threaded_slack: ThreadedSlack) -> None:
    settings = load_settings(
        slack_bot_token="xoxb-not-the-right-token", slack_signing_secret="s",
        slack_api_url=threaded_slack.api_url, debitura_api_key="k", debitura_api_url=unreachable_url(), redis_url="redis://127.0.0.1:1/0",
    )
    report = await run_check(settings)
    assert report.failed
    slack = line(report, "slack auth.test")
    assert slack.mark is Mark.FAIL
    assert slack.detail == "Slack rejected SLACK_BOT_TOKEN (invalid_auth)"
    assert "Bot User OAuth Token" in slack.fix
    assert line(report, "slack scopes").mark is Mark.SKIP
    debitura = line(report, "debitura /me")
    assert debitura.mark is Mark.FAIL
    assert debitura.detail.startswith(f"cannot reach Debitura at {settings.debitura_api_url}")
    assert "DEBITURA_API_URL" in debitura.fix
    redis = line(report, "redis")
    assert redis.mark is Mark.FAIL
    assert redis.detail.startswith("cannot reach Redis at redis://127.0.0.1:1/0")
    assert "REDIS_URL" in redis.fix
    assert line(report, "webhooks").mark is Mark.SKIP
    assert line(report, "relay budget").mark is Mark.SKIP
    text = render(report)
    assert "fix: copy the Bot User OAuth Token" in text
    assert "check(s) failed" in text
    assert "xoxb-not-the-right-token" not in text


async def test_check_missing_scopes_are_listed(
    threaded_slack: ThreadedSlack, sandbox: Any, scopes: list[str]
) -> None:
    scopes[:] = [s for s in REQUIRED_SCOPES if s not in ("channels:history", "users:read.email")]
    report = await run_check(good_settings(threaded_slack, sandbox))
    entry = line(report, "slack scopes")
    assert entry.mark is Mark.FAIL
    assert entry.detail == "missing channels:history, users:read.email"
    assert "reinstall" in entry.fix


async def test_check_extra_scopes_warn(
    threaded_slack: ThreadedSlack, sandbox: Any, scopes: list[str]
) -> None:
    scopes.append("chat:write.public")
    entry = line(await run_check(good_settings(threaded_slack, sandbox)), "slack scopes")
    assert entry.mark is Mark.WARN and "chat:write.public" in entry.detail


async def test_check_wrong_debitura_key_and_app_token(threaded_slack: ThreadedSlack, sandbox: Any) -> None:
    report = await run_check(good_settings(threaded_slack, sandbox, debitura_api_key="wrong-key",
                                           slack_app_token="xapp-1-not-the-app-token"))
    assert line(report, "debitura /me").detail == "Debitura rejected DEBITURA_API_KEY (401)"
    assert line(report, "debitura /users").mark is Mark.SKIP
    transport = line(report, "slack transport")
    assert transport.mark is Mark.FAIL and "SLACK_APP_TOKEN" in transport.detail
    assert "connections:write" in transport.fix


async def test_check_admins(threaded_slack: ThreadedSlack, sandbox: Any) -> None:
    none = await run_check(good_settings(threaded_slack, sandbox, caseroom_admin_users=[]))
    entry = line(none, "admins")
    assert entry.mark is Mark.FAIL and "nobody may close cases" in entry.detail
    assert "CASEROOM_ADMIN_USERS" in entry.fix and "CASEROOM_ADMIN_GROUP" in entry.fix
    assert none.failed
    everyone = await run_check(good_settings(threaded_slack, sandbox, caseroom_admin_users="*"))
    entry = line(everyone, "admins")
    assert entry.mark is Mark.OK and entry.detail.startswith("CASEROOM_ADMIN_USERS=*: everyone")
    assert not everyone.failed, render(everyone)
    bad_group = await run_check(good_settings(threaded_slack, sandbox, caseroom_admin_group="S0NOSUCH"))
    entry = line(bad_group, "admins")
    assert entry.mark is Mark.FAIL and "no_such_subteam" in entry.detail


async def test_check_feed_channel(threaded_slack: ThreadedSlack, sandbox: Any) -> None:
    ws = threaded_slack.fake.workspace
    internal = ws.add_channel("caseroom-feed")
    shared = ws.add_channel("feed-with-partner", shared="external")
    outside = ws.add_channel("not-joined", bot_member=False)
    unset = await run_check(good_settings(threaded_slack, sandbox))
    assert not [entry for entry in unset.lines if entry.name == "feed channel"]
    good = line(await run_check(good_settings(threaded_slack, sandbox, caseroom_feed_channel=internal.id)),
                "feed channel")
    assert good.mark is Mark.OK and "#caseroom-feed" in good.detail
    bad = await run_check(good_settings(threaded_slack, sandbox, caseroom_feed_channel=shared.id))
    entry = line(bad, "feed channel")
    assert entry.mark is Mark.FAIL and "shared with another organisation" in entry.detail and bad.failed
    entry = line(await run_check(good_settings(threaded_slack, sandbox, caseroom_feed_channel=outside.id)),
                 "feed channel")
    assert entry.mark is Mark.FAIL and "not a member" in entry.detail


async def test_check_creates_the_webhook_then_accepts_it(threaded_slack: ThreadedSlack, sandbox: Any) -> None:
    url = "http://127.0.0.1:3999/debitura/webhooks"
    created = await run_check(good_settings(threaded_slack, sandbox), create_webhook=url)
    entry = line(created, "webhooks")
    assert entry.mark is Mark.OK and entry.detail.startswith("created subscription")
    secret_lines = [n for n in created.notes if "DEBITURA_WEBHOOK_SECRET=" in n]
    assert len(secret_lines) == 1
    secret = secret_lines[0].split("=", 1)[1]
    base64.b64decode(secret, validate=True)
    # Subscribed, but this process has no secret: every delivery would be refused.
    without = line(await run_check(good_settings(threaded_slack, sandbox)), "webhooks")
    assert without.mark is Mark.FAIL and "DEBITURA_WEBHOOK_SECRET is not set" in without.detail
    settings = good_settings(threaded_slack, sandbox, debitura_webhook_secret=secret)
    with_secret = line(await run_check(settings), "webhooks")
    assert with_secret.mark is Mark.OK and with_secret.detail.startswith(url)


def test_check_staleness_bound_follows_the_budget() -> None:
    settings = load_settings(slack_bot_token="xoxb-1", slack_signing_secret="s", debitura_api_key="k")
    # 10,000 cases, 2 requests each, 60 % of 100,000 a day: one round every 8 hours, plus the sweeps' share
    bound = staleness_bound(10_000, settings)
    assert 8 * 3600 < bound < 9 * 3600
    assert staleness_bound(1_000, settings) < 3600  # the target at 1,000 cases
    assert staleness_bound(0, settings) == 0


def test_check_cli_exit_codes_and_table(threaded_slack: ThreadedSlack, sandbox: Any, tmp_path: Any) -> None:
    env = base_env(threaded_slack, DEBITURA_API_URL=sandbox.url, DEBITURA_API_KEY=sandbox.api_key,
                   CASEROOM_ADMIN_USERS="U0ADMIN01")
    good = subprocess.run([sys.executable, "-m", "bot.cli", "check"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"^\[ ok \] slack auth\.test", good.stdout, re.M)
    assert "All checks passed" in good.stdout
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"
    bad = subprocess.run([sys.executable, "-m", "bot.cli", "check"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 1
    assert re.search(r"^\[FAIL\] redis +cannot reach Redis", bad.stdout, re.M)
    assert "Traceback" not in bad.stdout + bad.stderr


def test_check_cli_without_settings_fails_with_the_list(tmp_path: Any) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "bot.cli", "check"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 1
    assert "[FAIL] settings" in out.stdout
    assert "SLACK_BOT_TOKEN is missing" in out.stdout and "DEBITURA_API_KEY is missing" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr



async def test_check_warns_when_the_budget_cannot_hold_max_staleness(
    threaded_slack: ThreadedSlack, sandbox: Any
) -> None:
    # 60 cases, but a relay budget of 100 requests a day (less than its sweeps alone cost)
    settings = good_settings(threaded_slack, sandbox, caseroom_rate_per_day=200, caseroom_relay_budget="0.5")
    entry = line(await run_check(settings), "relay budget")
    assert entry.mark is Mark.WARN
    assert "not within CASEROOM_MAX_STALENESS 60 min" in entry.detail
    assert "webhooks" in entry.fix


async def test_check_refuses_to_subscribe_a_url_caseroom_does_not_serve(
    threaded_slack: ThreadedSlack, sandbox: Any
) -> None:
    for url, why in (("caseroom.example.com", "is not a URL"),
                     ("https://caseroom.example.com/", "does not end with /debitura/webhooks")):
        entry = line(await run_check(good_settings(threaded_slack, sandbox), create_webhook=url), "webhooks")
        assert entry.mark is Mark.FAIL and why in entry.detail
    with sandbox.client() as client:
        assert client.get("/webhooks").json() == []


async def test_check_app_home_and_assignees_without_slack_accounts(
    threaded_slack: ThreadedSlack, sandbox: Any
) -> None:
    import redis.asyncio as aioredis

    from bot.store.attention import AttentionStore
    from bot.store.keys import Keys

    settings = good_settings(threaded_slack, sandbox)
    threaded_slack.fake.workspace.add_user("known", email="Known.Agent@partner.example")
    client = aioredis.Redis.from_url(redis_url(), decode_responses=True)
    store = AttentionStore(client, Keys(settings.caseroom_redis_prefix))
    try:
        for case_id, email in (("c1", "known.agent@partner.example"), ("c2", "ghost@partner.example"),
                               ("c3", "")):
            await store.index(case_id, None, email)
        report = await run_check(settings)
        assignees = line(report, "assignees")
        assert assignees.mark is Mark.WARN and not report.failed
        assert "1 of 2 assignee emails have no Slack account: ghost@partner.example" in assignees.detail
        assert "admins' queue" in assignees.fix
        found = await store.accounts(["known.agent@partner.example", "ghost@partner.example"])
        assert found["known.agent@partner.example"] is not None and found["known.agent@partner.example"][0]
        assert found["ghost@partner.example"] is not None and found["ghost@partner.example"][0] == ""
        home = line(report, "app home")
        assert home.mark is Mark.WARN and "home_tab_enabled" in home.fix
        await store.note_home_opened(1_800_000_000)
        again = await run_check(settings)
        assert line(again, "app home").mark is Mark.OK
        assert "last opened 2027-01-15" in line(again, "app home").detail
    finally:
        await client.aclose()
