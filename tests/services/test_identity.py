from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis.asyncio as aioredis
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import identity
from bot.services.errors import Refused
from bot.services.identity import BotTeam, SlackUser, refusal
from bot.store.identity import REFRESHED_FIELD
from bot.store.keys import Keys
from tests.fakes.slack.server import FakeSlack
from tests.services.helpers import make_runtime, users_handler

TEAM = BotTeam(team_id="T1")


@pytest.mark.parametrize(
    ("user", "why"),
    [
        (SlackUser(id="U1", team_id="T1"), None),
        (SlackUser(id="U1", team_id="T1", is_restricted=True), "Guests"),
        (SlackUser(id="U1", team_id="T1", is_restricted=True, is_ultra_restricted=True), "Guests"),
        (SlackUser(id="U1", team_id="T2"), "other organisations"),
        (SlackUser(id="U1", team_id="T1", is_stranger=True), "other organisations"),
        (SlackUser(id="U1", team_id="T1", is_bot=True), "Bots"),
        (SlackUser(id="U1", team_id="T1", deleted=True), "deactivated"),
    ],
)
def test_refusal_rules(user: SlackUser, why: str | None) -> None:
    reason = refusal(user, TEAM)
    if why is None:
        assert reason is None
    else:
        assert reason is not None and why in reason


def test_enterprise_grid_members_of_another_workspace_are_not_strangers() -> None:
    grid = BotTeam(team_id="T1", enterprise_id="E1")
    assert refusal(SlackUser(id="U1", team_id="T9", enterprise_id="E1"), grid) is None
    assert refusal(SlackUser(id="U1", team_id="T9", enterprise_id="E2"), grid) is not None


async def test_check_user_refuses_guests_and_slack_connect_users(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    ws = fake_slack.workspace
    member = ws.add_user("jane", email="jane@agency.example")
    guest = ws.add_user("gus", guest="multi")
    single = ws.add_user("sam", guest="single")
    external = ws.add_user("eve", team_id="T0OTHERORG")
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client)

    assert (await identity.check_user(runtime, member.id)).email == "jane@agency.example"
    for refused, words in ((guest, "Guests"), (single, "Guests"), (external, "other organisations")):
        with pytest.raises(Refused, match=words):
            await identity.check_user(runtime, refused.id)


async def test_profiles_and_bot_team_are_cached_in_redis(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    user = fake_slack.workspace.add_user("jane")
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client)
    await identity.check_user(runtime, user.id)
    await identity.check_user(runtime, user.id)
    journal = fake_slack.journal
    assert len(journal.calls("users.info")) == 1 and len(journal.calls("auth.test")) == 1
    assert await redis.ttl(keys.slack_user(user.id)) > 0
    assert await redis.ttl(keys.slack_bot_team()) > 0


async def test_team_member_matches_the_slack_email_case_insensitively(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    user = fake_slack.workspace.add_user("jane", email="Jane@Agency.Example")
    calls: list[str] = []
    team = [{"id": "6a1b", "name": "Jane A", "email": "jane@agency.example"},
            {"id": "7c2d", "name": "Bob", "email": "bob@agency.example"}]
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client, handler=users_handler(team, calls))
    member = await identity.team_member(runtime, user.id)
    assert member.id == "6a1b"
    again = await identity.team_member(runtime, user.id)
    assert again.id == "6a1b"
    assert calls == ["/users"]  # the second lookup came from Redis
    assert await redis.ttl(keys.debitura_users()) > 0


async def test_no_matching_team_member_is_refused_and_not_refetched_at_once(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    user = fake_slack.workspace.add_user("zed", email="zed@elsewhere.example")
    calls: list[str] = []
    bob = {"id": "1", "name": "Bob", "email": "bob@a.example"}
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client, handler=users_handler([bob], calls))
    with pytest.raises(Refused, match=r"zed@elsewhere\.example.*Nothing was sent"):
        await identity.team_member(runtime, user.id)
    with pytest.raises(Refused):
        await identity.team_member(runtime, user.id)
    assert calls == ["/users"]


async def test_a_new_team_member_is_found_once_the_refresh_interval_passed(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    user = fake_slack.workspace.add_user("new", email="new@agency.example")
    team: list[dict[str, str]] = []
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client, handler=users_handler(team))
    assert await identity.find_team_member(runtime, "new@agency.example") is None
    team.append({"id": "9", "name": "New", "email": "new@agency.example"})
    await redis.hset(keys.debitura_users(), REFRESHED_FIELD, "0")  # the last refresh is long ago
    found = await identity.team_member(runtime, user.id)
    assert found.id == "9"


async def test_guest_is_refused_before_any_team_lookup(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    guest = fake_slack.workspace.add_user("gus", guest="single", email="gus@agency.example")
    calls: list[str] = []
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client, handler=users_handler([], calls))
    with pytest.raises(Refused, match="Guests"):
        await identity.team_member(runtime, guest.id)
    assert calls == []


async def test_nobody_is_admin_when_nothing_is_configured(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    """Closed by default: no admin setting means the admin-only writes are refused, naming the settings."""
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client, caseroom_admin_users="")
    assert not identity.admins_configured(runtime)
    assert not await identity.is_admin(runtime, "UANYONE")
    with pytest.raises(Refused, match="Only Caseroom admins can close cases, and none are set") as info:
        await identity.require_admin(runtime, "UANYONE", "close cases")
    assert "CASEROOM_ADMIN_USERS or CASEROOM_ADMIN_GROUP" in info.value.message


async def test_admin_users_star_lets_everyone(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client, caseroom_admin_users="*")
    assert identity.admins_open(runtime)
    assert await identity.is_admin(runtime, "UANYONE")
    await identity.require_admin(runtime, "UANYONE", "close cases")


async def test_admin_users_list(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client, caseroom_admin_users="UBOSS, UOTHER")
    assert await identity.is_admin(runtime, "UBOSS")
    assert not await identity.is_admin(runtime, "UAGENT")
    with pytest.raises(Refused, match="Only Caseroom admins can close cases"):
        await identity.require_admin(runtime, "UAGENT", "close cases")
    await identity.require_admin(runtime, "UOTHER", "close cases")


async def test_admin_group_members_are_admins_and_the_group_is_cached(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    ws = fake_slack.workspace
    boss = ws.add_user("boss")
    agent = ws.add_user("agent")
    group = ws.add_group("collection-admins", [boss.id])
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client, caseroom_admin_group=group.id)
    assert await identity.is_admin(runtime, boss.id)
    assert not await identity.is_admin(runtime, agent.id)
    assert len(fake_slack.journal.calls("usergroups.users.list")) == 1
    assert 0 < await redis.ttl(keys.slack_usergroup_members(group.id)) <= 300


# --- freshness before writes ------------------------------------------------------------------------

async def age_cached_profile(redis: aioredis.Redis, keys: Keys, user_id: str, seconds: float) -> None:
    """Make the cached Slack profile look `seconds` old (as if users.info was read then)."""
    cached = json.loads(await redis.get(keys.slack_user(user_id)))
    cached["fetched"] = time.time() - seconds
    await redis.set(keys.slack_user(user_id), json.dumps(cached))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"is_restricted": True}, "Guests"),
        ({"team_id": "T0OTHERORG"}, "other organisations"),
        ({"deleted": True}, "deactivated"),
    ],
)
async def test_a_write_rereads_a_profile_older_than_a_few_minutes(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys,
    change: dict[str, Any], words: str,
) -> None:
    user = fake_slack.workspace.add_user("jane")
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client)
    await identity.check_user(runtime, user.id)
    for name, value in change.items():
        setattr(user, name, value)
    # A recent profile serves reads and writes alike; one older than WRITE_MAX_AGE still serves reads.
    await identity.check_user(runtime, user.id, write=True)
    await age_cached_profile(redis, keys, user.id, identity.WRITE_MAX_AGE + 1)
    await identity.check_user(runtime, user.id)
    assert len(fake_slack.journal.calls("users.info")) == 1
    with pytest.raises(Refused, match=words):
        await identity.check_user(runtime, user.id, write=True)
    assert len(fake_slack.journal.calls("users.info")) == 2


async def test_a_profile_cached_before_the_freshness_stamp_counts_as_old_for_writes(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    user = fake_slack.workspace.add_user("jane")
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client)
    old = SlackUser(id=user.id, team_id=fake_slack.workspace.TEAM_ID).model_dump(exclude={"fetched"})
    await redis.set(keys.slack_user(user.id), json.dumps(old))
    user.is_restricted = True
    await identity.check_user(runtime, user.id)  # reads keep the cached profile
    with pytest.raises(Refused, match="Guests"):
        await identity.check_user(runtime, user.id, write=True)


async def test_forget_user_drops_the_cached_profile(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    user = fake_slack.workspace.add_user("jane")
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client)
    await identity.check_user(runtime, user.id)
    user.is_ultra_restricted = user.is_restricted = True
    await identity.forget_user(runtime, user.id)
    with pytest.raises(Refused, match="Guests"):
        await identity.check_user(runtime, user.id)


async def test_someone_removed_from_the_debitura_team_is_refused_once_the_list_is_a_few_minutes_old(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    user = fake_slack.workspace.add_user("jane", email="jane@agency.example")
    calls: list[str] = []
    team = [{"id": "6a1b", "name": "Jane A", "email": "jane@agency.example"}]
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client, handler=users_handler(team, calls))
    assert (await identity.team_member(runtime, user.id)).id == "6a1b"
    team.clear()  # removed from the Debitura team
    assert (await identity.team_member(runtime, user.id)).id == "6a1b"  # the list is still recent
    assert calls == ["/users"]
    stale = time.time() - identity.WRITE_MAX_AGE - 1
    await redis.hset(keys.debitura_users(), REFRESHED_FIELD, str(stale))
    # Reads of the team list keep the cache; the write path reads GET /users again and refuses.
    assert await identity.find_team_member(runtime, "jane@agency.example") is not None
    with pytest.raises(Refused, match="does not match any member"):
        await identity.team_member(runtime, user.id)
    assert calls == ["/users", "/users"]
