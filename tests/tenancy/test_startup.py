"""Multi-workspace start-up: a missing or malformed CASEROOM_SECRET_KEY stops Caseroom with a line naming
it; single-workspace mode on a Redis Cluster keeps every key of the deployment in one hash slot."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from bot.check import run_check
from bot.config import Settings
from bot.runtime import build_runtime
from bot.server import EXIT_CONFIG, run, run_relay
from bot.tenancy import TenantRegistry
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.redis import new_prefix
from tests.tenancy.helpers import installation, multi_settings


@pytest.mark.parametrize("secret", [None, "not-a-fernet-key"])
@pytest.mark.parametrize("entry", ["run", "relay"])
def test_multi_workspace_mode_refuses_to_start_without_a_secret_key(
    capsys: pytest.CaptureFixture[str], secret: str | None, entry: str
) -> None:
    settings = multi_settings("caseroom-test:unused", caseroom_secret_key=secret)
    assert settings.multi_workspace
    if entry == "run":
        code = run(settings, mode="http", host="127.0.0.1", port=0, relay=False)
    else:
        code = run_relay(settings, host="127.0.0.1", port=0)
    assert code == EXIT_CONFIG
    assert "CASEROOM_SECRET_KEY" in capsys.readouterr().err


def test_single_workspace_settings_are_unchanged_by_the_new_ones() -> None:
    settings = Settings(slack_bot_token="xoxb-1", debitura_api_key="k", slack_signing_secret="s")
    assert not settings.multi_workspace and settings.cluster_url is None
    stand_ins = multi_settings("p")
    assert stand_ins.slack_bot_token.get_secret_value() == "xoxb-multi-workspace"  # never sent anywhere


async def test_single_workspace_mode_on_a_cluster_keeps_one_slot(cluster_url: str,
                                                                 cluster_redis: aioredis.Redis) -> None:
    prefix = new_prefix()
    settings = Settings(slack_bot_token="xoxb-1", debitura_api_key="k", slack_signing_secret="s",
                        redis_url=cluster_url, caseroom_redis_prefix=prefix, debitura_api_url="http://127.0.0.1:9")
    assert settings.cluster_url is not None
    runtime = await build_runtime(settings)
    try:
        assert runtime.keys.prefix == "{" + prefix + "}"
        await runtime.stores.follows.follow("case-1")
        await runtime.stores.audit.append({"action": "note"})
        assert await runtime.stores.follows.is_followed("case-1")
        slots = {key_slot(k.encode()) async for k in cluster_redis.scan_iter(match=runtime.keys.prefix + "*")}
        assert len(slots) == 1
    finally:
        await runtime.aclose()


async def test_check_in_multi_workspace_mode_on_a_cluster(cluster_url: str, cluster_redis: aioredis.Redis,
                                                          fake_slack: FakeSlack) -> None:
    prefix = new_prefix()
    settings = multi_settings(prefix, redis_url=cluster_url, slack_api_url=fake_slack.api_url)
    registry = TenantRegistry(settings, redis=cluster_redis)
    await registry.installations.async_save(installation("T0AAAA"))
    await registry.installations.async_save(installation("T0BBBB"))
    await registry.workspace_store("T0AAAA").save_debitura(
        api_key="k", webhook_secret=None, admins=[], lifecycles=[], partner_name="", user_id="U1")
    report = await run_check(settings)
    names = [entry.name for entry in report.lines]
    assert "slack auth.test" not in names and "debitura /me" not in names  # no deployment token or key
    workspaces = next(entry for entry in report.lines if entry.name == "workspaces")
    assert "2 installed, 1 connected to Debitura, 0 with a key Debitura refused" in workspaces.detail
    assert next(entry for entry in report.lines if entry.name == "redis").mark.name != "FAIL"
    await registry.aclose()
