"""The relay fleet: one relay per set-up workspace; a workspace whose Debitura key is refused is
paused (its setup says so) while the others keep running; a new key resumes it."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from bot.relay.fleet import RelayFleet
from bot.relay.service import RelayOptions
from bot.store.workspaces import KEY_INVALID
from bot.tenancy import TenantRegistry
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.sandbox import SandboxHandle
from tests.tenancy.helpers import installation, multi_settings


async def _until(predicate: object, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if callable(predicate) and await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_a_refused_key_pauses_that_workspace_only(
    redis: aioredis.Redis, redis_prefix: str, sandbox: SandboxHandle, fake_slack: FakeSlack
) -> None:
    settings = multi_settings(redis_prefix, debitura_api_url=sandbox.url, slack_api_url=fake_slack.api_url,
                              caseroom_relay_sweep_interval=1, caseroom_relay_lease=2)
    registry = TenantRegistry(settings, redis=redis)
    await registry.installations.async_save(installation("T0AAAA", token=fake_slack.bot_token))
    await registry.installations.async_save(installation("T0BBBB", token=fake_slack.bot_token))
    for team, key in (("T0AAAA", sandbox.api_key), ("T0BBBB", "a-key-debitura-revoked-since")):
        await registry.workspace_store(team).save_debitura(
            api_key=key, webhook_secret=None, admins=[], lifecycles=["Active"], partner_name="", user_id="U1")
    fleet = RelayFleet(registry, sync_interval=0.2, key_check_interval=0.5,
                       options=RelayOptions(fetch_workers=1, delivery_workers=1, lease_seconds=2))
    await fleet.start()
    try:
        assert sorted(fleet.relays) == ["T0AAAA", "T0BBBB"]

        async def b_paused() -> bool:
            config = await registry.workspace_store("T0BBBB").load()
            return config.key_status == KEY_INVALID and "T0BBBB" not in fleet.relays

        await _until(b_paused)
        config = await registry.workspace_store("T0BBBB").load()
        assert "401" in config.key_problem
        a = fleet.relay_for("T0AAAA")
        assert a is not None and a.running
        b_runtime = await registry.runtime("T0BBBB")
        assert b_runtime is not None and b_runtime.workspace is not None
        assert not b_runtime.workspace.config.usable  # App Home shows the setup with the refusal

        # A new, valid key resumes B.
        await registry.workspace_store("T0BBBB").save_debitura(
            api_key=sandbox.api_key, webhook_secret=None, admins=[], lifecycles=["Active"], partner_name="",
            user_id="U1")
        await registry.changed("T0BBBB")
        assert "T0BBBB" in fleet.relays and fleet.relays["T0BBBB"].running
    finally:
        await fleet.stop(graceful=False)
        await registry.aclose()
