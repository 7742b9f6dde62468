"""The installation and OAuth state stores over Redis, the registry of workspace runtimes, the proxy
listeners hold, and uninstall (every key of the workspace gone, the other's untouched)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from bot.store.installations import RedisInstallationStore, RedisOAuthStateStore
from bot.store.keys import Keys
from bot.store.secrets import SecretBox
from bot.tenancy import NoWorkspace, TenantRegistry, WorkspaceRuntime, current_runtime
from tests.tenancy.helpers import SECRET_KEY, installation, multi_settings


@pytest.fixture
async def registry(redis: aioredis.Redis, redis_prefix: str) -> TenantRegistry:
    reg = TenantRegistry(multi_settings(redis_prefix), redis=redis)
    yield reg
    for tenant in list(reg._tenants.values()):
        await tenant.runtime.debitura.aclose()


async def test_installation_is_encrypted_at_rest_and_found_per_workspace(
    redis: aioredis.Redis, keys: Keys
) -> None:
    store = RedisInstallationStore(redis, keys, SecretBox(SECRET_KEY))
    await store.async_save(installation("T0AAAA"))
    await store.async_save(installation("T0BBBB"))
    raw = await redis.get(keys.for_workspace("T0AAAA").slack_installation())
    assert raw is not None and "xoxb-" not in raw and "secret" not in raw
    found = await store.async_find_bot(enterprise_id=None, team_id="T0AAAA")
    assert found is not None and found.bot_token == "xoxb-t0aaaa-secret-token"
    assert await store.installed() == ["T0AAAA", "T0BBBB"]
    assert await store.async_find_installation(enterprise_id=None, team_id="T0CCCC") is None
    await store.async_delete_installation(enterprise_id=None, team_id="T0AAAA")
    assert await store.async_find_bot(enterprise_id=None, team_id="T0AAAA") is None
    assert await store.installed() == ["T0BBBB"]


async def test_a_bot_token_rotated_by_bolt_is_saved_into_the_installation(
    redis: aioredis.Redis, keys: Keys
) -> None:
    saved: list[str] = []

    async def on_saved(workspace: str, _installation: object) -> None:
        saved.append(workspace)

    store = RedisInstallationStore(redis, keys, SecretBox(SECRET_KEY), on_saved=on_saved)
    await store.async_save(installation("T0AAAA"))
    bot = await store.async_find_bot(enterprise_id=None, team_id="T0AAAA")
    assert bot is not None
    bot.bot_token, bot.bot_refresh_token = "xoxe.xoxb-new", "xoxe-1-new"
    bot.bot_token_expires_at = 2_000_000_000
    await store.async_save_bot(bot)  # what Bolt's bot-only authorize calls after a rotation
    found = await store.async_find_installation(enterprise_id=None, team_id="T0AAAA")
    assert found is not None and found.bot_token == "xoxe.xoxb-new"
    assert found.bot_refresh_token == "xoxe-1-new" and found.bot_token_expires_at == 2_000_000_000
    assert found.app_id == installation("T0AAAA").app_id  # the rest of the installation is kept
    assert saved == ["T0AAAA", "T0AAAA"]  # the registry hears of the new token
    await store.async_delete_installation(enterprise_id=None, team_id="T0AAAA")
    await store.async_save_bot(bot)  # uninstalled meanwhile: nothing comes back
    assert await store.async_find_bot(enterprise_id=None, team_id="T0AAAA") is None


async def test_oauth_state_works_once_and_forged_ones_are_refused(redis: aioredis.Redis, keys: Keys) -> None:
    states = RedisOAuthStateStore(redis, keys)
    state = await states.async_issue()
    assert await states.async_consume("forged-state") is False
    assert await states.async_consume("") is False
    assert await states.async_consume(state) is True
    assert await states.async_consume(state) is False  # used
    short = RedisOAuthStateStore(redis, keys, expiration_seconds=1)
    expired = await short.async_issue()
    await redis.delete(keys.oauth_state(expired))  # what the TTL does after 1 s
    assert await short.async_consume(expired) is False


async def test_each_workspace_gets_its_own_runtime(registry: TenantRegistry) -> None:
    await registry.installations.async_save(installation("T0AAAA", user="U0ALICE"))
    await registry.installations.async_save(installation("T0BBBB", user="U0BOB"))
    a = await registry.runtime("T0AAAA")
    b = await registry.runtime("T0BBBB")
    assert a is not None and b is not None and a is not b
    assert a.keys.prefix.endswith(":{T0AAAA}") and b.keys.prefix.endswith(":{T0BBBB}")
    assert a.slack.token == "xoxb-t0aaaa-secret-token" and b.slack.token == "xoxb-t0bbbb-secret-token"
    assert a.limiter is not b.limiter
    assert a.settings.caseroom_admin_users == ["U0ALICE"]  # the installer administers its workspace
    assert a.workspace is not None and a.workspace.installer == "U0ALICE"
    assert await registry.runtime("T0CCCC") is None  # not installed
    assert await registry.runtime("not-a-team") is None
    assert await registry.runtime("T0AAAA") is a  # cached while nothing changed


async def test_settings_saved_from_app_home_rebuild_the_runtime(registry: TenantRegistry) -> None:
    await registry.installations.async_save(installation("T0AAAA", user="U0ALICE"))
    first = await registry.runtime("T0AAAA")
    assert first is not None and first.workspace is not None and not first.workspace.config.configured
    await first.workspace.store.save_debitura(
        api_key="key-of-a", webhook_secret="c2VjcmV0", admins=["U0ADM"], lifecycles=["Active"],
        partner_name="Agency A", user_id="U0ALICE")
    raw = await registry.redis.hgetall(first.keys.workspace_config())
    assert "key-of-a" not in str(raw)  # encrypted at rest
    await first.workspace.changed()
    second = await registry.runtime("T0AAAA")
    assert second is not None and second is not first
    assert second.settings.debitura_api_key.get_secret_value() == "key-of-a"
    assert second.settings.caseroom_relay_lifecycles == ["Active"]
    assert second.settings.caseroom_admin_users == ["U0ALICE", "U0ADM"]
    assert second.workspace is not None and second.workspace.config.usable


async def test_the_proxy_reads_the_current_workspace_or_refuses(registry: TenantRegistry) -> None:
    await registry.installations.async_save(installation("T0AAAA"))
    await registry.installations.async_save(installation("T0BBBB"))
    proxy = WorkspaceRuntime(registry)
    assert proxy.settings.caseroom_command == "/case"  # deployment-wide: available at registration
    with pytest.raises(NoWorkspace):
        _ = proxy.stores
    with pytest.raises(NoWorkspace):
        _ = proxy.redis
    a = await registry.runtime("T0AAAA")
    b = await registry.runtime("T0BBBB")
    token = current_runtime.set(a)
    try:
        await proxy.stores.audit.append({"action": "note", "user": "U1"})
        assert proxy.keys is a.keys
    finally:
        current_runtime.reset(token)
    assert b is not None and await b.stores.audit.recent() == []
    assert a is not None and len(await a.stores.audit.recent()) == 1


async def test_uninstall_deletes_the_workspace_and_leaves_the_other(registry: TenantRegistry) -> None:
    await registry.installations.async_save(installation("T0AAAA"))
    await registry.installations.async_save(installation("T0BBBB"))
    a = await registry.runtime("T0AAAA")
    b = await registry.runtime("T0BBBB")
    assert a is not None and b is not None and a.workspace is not None
    await a.workspace.store.save_debitura(api_key="key-a", webhook_secret=None, admins=[], lifecycles=[],
                                          partner_name="", user_id="U1")
    for rt in (a, b):
        await rt.stores.follows.follow("case-1")
        await rt.stores.audit.append({"action": "note"})
    seen: list[str] = []

    async def changed(workspace: str) -> None:
        seen.append(workspace)

    registry.on_change.append(changed)
    deleted = await registry.uninstall("T0AAAA")
    assert deleted >= 3
    left = [k async for k in registry.redis.scan_iter(match=a.keys.workspace_pattern())]
    assert left == []
    assert await registry.runtime("T0AAAA") is None
    assert await registry.installed() == ["T0BBBB"]
    assert await b.stores.follows.is_followed("case-1")
    assert len(await b.stores.audit.recent()) == 1
    assert seen == ["T0AAAA"]


async def test_the_second_cleanup_after_uninstall_runs_at_close_instead_of_being_waited_for(
    registry: TenantRegistry,
) -> None:
    for team in ("T0AAAA", "T0BBBB"):
        await registry.installations.async_save(installation(team))
    a = await registry.runtime("T0AAAA")
    assert a is not None
    await registry.uninstall("T0AAAA")
    await registry.uninstall("T0BBBB")
    await registry.installations.async_save(installation("T0BBBB"))  # installed again meanwhile
    b = await registry.runtime("T0BBBB")
    assert b is not None
    # Another replica's relay wrote for both before it heard of the uninstall.
    await a.stores.follows.follow("case-late")
    await b.stores.follows.follow("case-new")
    timers = [t for t in asyncio.all_tasks() if t.get_name().startswith("forget-again-")]
    assert len(timers) == 2 and not any(t.done() for t in timers)

    await registry.second_passes_now()  # what the shutdown does before it drains the tasks in flight

    assert all(t.done() for t in timers)  # nothing left for the drain to wait on
    assert [k async for k in registry.redis.scan_iter(match=a.keys.workspace_pattern())] == []
    assert await b.stores.follows.is_followed("case-new")  # a workspace installed again is kept
