"""Bot token rotation (Slack's "token rotation" on): a workspace's token close to expiry is refreshed
with oauth.v2.access (grant_type=refresh_token) before it is used, and the new one is kept."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from bot.tenancy import TenantRegistry
from tests.fakes.slack.server import FakeSlack
from tests.tenancy.helpers import installation, multi_settings


async def test_an_expiring_bot_token_is_rotated_and_kept(
    redis: aioredis.Redis, redis_prefix: str, fake_slack: FakeSlack
) -> None:
    fake_slack.oauth.token_rotation = True
    issued = fake_slack.oauth._issue(fake_slack.workspace.TEAM_ID)
    registry = TenantRegistry(multi_settings(redis_prefix, slack_api_url=fake_slack.api_url), redis=redis)
    try:
        team = fake_slack.workspace.TEAM_ID
        await registry.installations.async_save(installation(
            team, token=issued["access_token"], bot_refresh_token=issued["refresh_token"],
            bot_token_expires_at=int(time.time()) + 600))  # within the two hours before expiry
        runtime = await registry.runtime(team)
        assert runtime is not None
        assert runtime.slack.token != issued["access_token"]
        assert runtime.slack.token == fake_slack.oauth.access_log[-1]["access_token"]
        assert (await runtime.slack.auth_test())["team_id"] == team
        stored = await registry.installations.load(team)
        assert stored is not None and stored.bot_token == runtime.slack.token
        assert stored.bot_refresh_token != issued["refresh_token"]  # refresh tokens are single use
        assert stored.bot_token_expires_at is not None and stored.bot_token_expires_at > time.time() + 3600
        assert await registry.runtime(team) is runtime  # fresh now: no second rotation
        assert len(fake_slack.oauth.access_log) == 1
    finally:
        await registry.aclose()
