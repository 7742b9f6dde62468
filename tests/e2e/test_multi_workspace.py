"""Many workspaces on one deployment, through the real process, the fake Slack's OAuth and the sandbox:
install two workspaces with "Add to Slack", set each up from App Home, use both, and try to cross
from one to the other (a forged OAuth state, a webhook signed with the other's secret, a button value
copied from the other's message, an uninstall)."""

from __future__ import annotations

import asyncio
import base64
import html
import json
import re
import time
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from blocks.ids import Action, Block
from bot.debitura.webhooks import sign
from bot.store.keys import Keys
from bot.store.secrets import generate_key
from tests.e2e.case_helpers import mrkdwn, reply
from tests.fakes.slack.driver import Ack, Driver
from tests.fakes.slack.oauth import CLIENT_ID, CLIENT_SECRET
from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.workspace import Workspace
from tests.fixtures.e2e import Caseroom, Factory
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.e2e

SECRET_A = base64.b64encode(b"webhook-secret-of-workspace-a").decode()
SECRET_B = base64.b64encode(b"webhook-secret-of-workspace-b").decode()


def multi_env() -> dict[str, str]:
    return {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET,
            "CASEROOM_SECRET_KEY": generate_key(), "SLACK_BOT_TOKEN": ""}


async def install(caseroom: Caseroom, team: str, user: str, expect: int = 200) -> str:
    """"Add to Slack" as a browser does it: the install page, Slack's authorize page, the redirect.
    Returns the page the redirect answered (its status `expect`)."""
    fake = caseroom.fake
    fake.oauth.redirect_uris = [f"{caseroom.base_url}/slack/oauth_redirect"]  # the app's Redirect URL
    fake.oauth.approve(team, user)
    async with aiohttp.ClientSession() as browser:
        async with browser.get(f"{caseroom.base_url}/slack/install") as page:
            assert page.status == 200
            text = await page.text()
            # The state cookie is Secure (a browser sends it back over https; this test talks http).
            cookie = page.headers["Set-Cookie"].split(";", 1)[0]
        found = re.search(r'href="([^"]*oauth/v2/authorize[^"]*)"', text)
        assert found, text
        async with browser.get(html.unescape(found.group(1)), allow_redirects=False) as slack:
            assert slack.status == 302
            back = slack.headers["Location"]
        async with browser.get(back, allow_redirects=False, headers={"Cookie": cookie}) as done:
            body = await done.text()
            assert done.status == expect, body
    return body


async def open_home(driver: Driver, ws: Workspace, user: str) -> dict[str, Any]:
    ack = await driver.event({"type": "app_home_opened", "user": user, "tab": "home", "channel": "D0HOME"})
    assert ack.ok

    async def published() -> dict[str, Any] | None:
        view_id = ws.home_views.get(user)
        return ws.views[view_id].to_api() if view_id else None

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = await published()
        if found is not None:
            return found
        await driver.fake.journal.wait_for(lambda: ws.home_views.get(user), timeout=10)
    raise AssertionError("no App Home published")


async def set_up(driver: Driver, ws: Workspace, user: str, key: str, secret: str | None = None) -> Ack:
    home = await open_home(driver, ws, user)
    assert "Set up Debitura" in json.dumps(home)
    click = await driver.click(Action.OPEN_WORKSPACE_SETUP, user=user, view_id=home["id"])
    assert click.ok
    await driver.fake.journal.wait_for(lambda: ws.top_view(user), timeout=10, what="setup modal")
    values: dict[str, Any] = {Block.SETUP_API_KEY: key}
    if secret:
        values[Block.SETUP_WEBHOOK_SECRET] = secret
    return await driver.submit_view(user=user, values=values)


@pytest.fixture
async def deployment(caseroom_factory: Factory, fake_slack: FakeSlack) -> Caseroom:
    return await caseroom_factory("http", env=multi_env())


async def command(driver: Driver, text: str, user: str, channel: str) -> Ack:
    ack = await driver.command("/case", text, user=user, channel=channel)
    assert ack.ok, (ack.status, ack.body)
    return ack


async def test_two_workspaces_install_set_up_and_work_apart(
    deployment: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis
) -> None:
    fake = deployment.fake
    ws_a = fake.workspace
    alice = deployment.user
    ws_b = fake.add_team("T0SECOND", domain="second-agency")
    bob = ws_b.add_user("bob", email="bob@second.example", real_name="Bob Second")
    room_b = ws_b.add_channel("collections-b", members=[bob.id])
    driver_a = deployment.driver
    driver_b = driver_a.for_team(ws_b)

    # A forged state never installs anything.
    forged_url = f"{deployment.base_url}/slack/oauth_redirect?code=x.y&state=forged"
    async with aiohttp.ClientSession() as browser, browser.get(forged_url, allow_redirects=False) as forged:
        assert forged.status >= 400
    assert fake.oauth.access_log == []

    await install(deployment, ws_a.TEAM_ID, alice.id)
    await install(deployment, ws_b.TEAM_ID, bob.id)
    assert [a["team"]["id"] for a in fake.oauth.access_log] == [ws_a.TEAM_ID, ws_b.TEAM_ID]
    raw = await redis.get(Keys(deployment.redis_prefix).for_workspace(ws_a.TEAM_ID).slack_installation())
    assert raw and fake.oauth.access_log[0]["access_token"] not in raw  # the token is encrypted at rest

    # Installed but not set up: the command says so; App Home offers the setup to the installer.
    ack = await command(driver_a, "list", alice.id, deployment.channel.id)
    assert "not connected to Debitura" in ack.body
    refused = await set_up(driver_a, ws_a, alice.id, "not-the-key")
    assert Block.SETUP_API_KEY in refused.errors and "refused" in refused.errors[Block.SETUP_API_KEY]
    await driver_a.close_view(user=alice.id)
    saved = await set_up(driver_a, ws_a, alice.id, sandbox.api_key, SECRET_A)
    assert saved.ok and not saved.errors
    assert sandbox.api_key not in json.dumps([c.args for c in fake.journal.calls()])  # never echoed
    assert sandbox.api_key not in deployment.output  # never logged

    case = sandbox.case("Active")
    post = await reply(deployment, await command(driver_a, case["reference"], alice.id,
                                                 deployment.channel.id))
    assert case["reference"] in mrkdwn(post.body)

    # B is still not set up: its people get the setup answer, not A's Debitura.
    ack = await command(driver_b, case["reference"], bob.id, room_b.id)
    assert "not connected to Debitura" in ack.body
    assert (await set_up(driver_b, ws_b, bob.id, sandbox.api_key, SECRET_B)).ok

    # A webhook for A signed with B's secret is refused; with A's, queued in A's keys only.
    body = json.dumps({"id": "evt-1", "event": "chat.created", "timestamp": "2026-12-03T08:00:00Z",
                       "data": {"caseId": case["id"]}}).encode()
    url_a = f"{deployment.base_url}/debitura/webhooks/{ws_a.TEAM_ID}"
    async with aiohttp.ClientSession() as session:
        for secret, status in ((SECRET_B, 401), (SECRET_A, 200)):
            headers = {"X-Debitura-Signature": sign(secret, body, int(time.time())),
                       "Content-Type": "application/json"}
            async with session.post(url_a, data=body, headers=headers) as resp:
                assert resp.status == status, await resp.text()
        async with session.post(f"{deployment.base_url}/debitura/webhooks/T0NOBODY", data=body,
                                headers=headers) as resp:
            assert resp.status == 401
    keys_a = Keys(deployment.redis_prefix).for_workspace(ws_a.TEAM_ID)
    keys_b = Keys(deployment.redis_prefix).for_workspace(ws_b.TEAM_ID)
    assert await redis.exists(keys_a.webhook_seen("evt-1"))
    assert not await redis.exists(keys_b.webhook_seen("evt-1"))


async def test_a_button_copied_from_another_workspace_reads_nothing_of_it(
    deployment: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis
) -> None:
    fake = deployment.fake
    ws_a, alice = fake.workspace, deployment.user
    ws_b = fake.add_team("T0SECOND")
    bob = ws_b.add_user("bob", email="bob@second.example")
    ws_b.add_channel("collections-b", members=[bob.id])
    driver_a, driver_b = deployment.driver, deployment.driver.for_team(ws_b)
    await install(deployment, ws_a.TEAM_ID, alice.id)
    await install(deployment, ws_b.TEAM_ID, bob.id)
    assert (await set_up(driver_a, ws_a, alice.id, sandbox.api_key)).ok
    assert (await set_up(driver_b, ws_b, bob.id, sandbox.api_key)).ok

    # Alice follows a case in A: A's channel, A's keys.
    case = sandbox.case("Active")
    post = await reply(deployment, await command(driver_a, f"follow {case['reference']}", alice.id,
                                                 deployment.channel.id))
    assert "Created <#" in mrkdwn(post.body)
    card = await reply(deployment, await command(driver_a, case["reference"], alice.id,
                                                 deployment.channel.id))
    value = next(e["value"] for b in card.body["blocks"] if b.get("type") == "actions"
                 for e in b["elements"] if e.get("action_id") == Action.FOLLOW)
    keys_a = Keys(deployment.redis_prefix).for_workspace(ws_a.TEAM_ID)
    keys_b = Keys(deployment.redis_prefix).for_workspace(ws_b.TEAM_ID)
    channel_a = await redis.hget(keys_a.case_channel(case["id"]), "id")
    assert channel_a and channel_a in ws_a.channels

    # Bob replays a Follow button as if copied from A's message: channel, message and value of A.
    a_calls_before = len([c for c in fake.journal.calls() if c.args.get("channel") == channel_a])
    payload = {
        "type": "block_actions", "team": {"id": ws_b.TEAM_ID, "domain": ws_b.TEAM_DOMAIN},
        "user": {"id": bob.id, "username": bob.name, "team_id": ws_b.TEAM_ID},
        "api_app_id": ws_b.APP_ID, "token": "legacy", "trigger_id": "1.2.3",
        "channel": {"id": channel_a, "name": "case"},
        "container": {"type": "message", "channel_id": channel_a, "message_ts": "1.000001"},
        "message": {"ts": "1.000001", "text": "", "blocks": []},
        "response_url": f"{fake.base_url}response/{ws_b.TEAM_ID}/none",
        "actions": [{"action_id": str(Action.FOLLOW), "block_id": "card", "type": "button",
                     "value": value,
                     "action_ts": "1.000002"}],
    }
    ack = await driver_b.transport.send("interactive", payload)
    assert ack.acked
    # Nothing of A was read or changed through B: A's mapping is A's alone, and no call reached A's
    # channel with B's token (it does not exist in B's workspace).
    await asyncio.sleep(1.0)  # the listener runs after the ack; nothing to wait for if it does nothing
    assert await redis.hget(keys_a.case_channel(case["id"]), "id") == channel_a
    assert await redis.hget(keys_b.case_channel(case["id"]), "id") != channel_a
    a_calls_after = [c for c in fake.journal.calls() if c.args.get("channel") == channel_a]
    assert all(c.status != 200 or not c.response.get("ok") for c in a_calls_after[a_calls_before:])
    assert channel_a not in ws_b.channels


async def test_uninstall_deletes_that_workspace_only(
    deployment: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis
) -> None:
    fake = deployment.fake
    ws_a, alice = fake.workspace, deployment.user
    ws_b = fake.add_team("T0SECOND")
    bob = ws_b.add_user("bob", email="bob@second.example")
    room_b = ws_b.add_channel("collections-b", members=[bob.id])
    driver_a, driver_b = deployment.driver, deployment.driver.for_team(ws_b)
    await install(deployment, ws_a.TEAM_ID, alice.id)
    await install(deployment, ws_b.TEAM_ID, bob.id)
    assert (await set_up(driver_a, ws_a, alice.id, sandbox.api_key)).ok
    assert (await set_up(driver_b, ws_b, bob.id, sandbox.api_key)).ok
    keys_b = Keys(deployment.redis_prefix).for_workspace(ws_b.TEAM_ID)
    assert await redis.exists(keys_b.slack_installation(), keys_b.workspace_config()) == 2

    fake.oauth.revoke(ws_b.TEAM_ID)
    ack = await driver_b.event({"type": "app_uninstalled"})
    assert ack.ok
    for _ in range(200):  # the event is handled after the ack
        if not [k async for k in redis.scan_iter(match=keys_b.workspace_pattern())]:
            break
        await asyncio.sleep(0.05)
    assert [k async for k in redis.scan_iter(match=keys_b.workspace_pattern())] == []
    assert room_b.id in ws_b.channels  # Slack channels are left as they are

    case = sandbox.case("Active")
    post = await reply(deployment, await command(driver_a, case["reference"], alice.id,
                                                 deployment.channel.id))
    assert case["reference"] in mrkdwn(post.body)  # A keeps working

    # What another replica's relay wrote for B before it heard of the uninstall: the second cleanup
    # removes it. It is due 15 s after the uninstall; a shutdown before then runs it at once instead
    # of waiting for it as for a request in flight (the drain gave up after 10 s, and it was lost).
    await redis.hset(keys_b.case_state("late-write"), mapping={"base": "chats"})
    assert await deployment.stop() == 0
    assert [k async for k in redis.scan_iter(match=keys_b.workspace_pattern())] == []
    assert "_forget_again" not in deployment.output, deployment.output


async def test_socket_mode_installs_and_serves_workspaces(
    caseroom_factory: Factory, sandbox: SandboxHandle
) -> None:
    instance = await caseroom_factory("socket", env=multi_env())
    ws, alice = instance.fake.workspace, instance.user
    await install(instance, ws.TEAM_ID, alice.id)  # the install pages are served over HTTP in both modes
    assert (await set_up(instance.driver, ws, alice.id, sandbox.api_key)).ok
    case = sandbox.case("Active")
    post = await reply(instance, await command(instance.driver, case["reference"], alice.id,
                                               instance.channel.id))
    assert case["reference"] in mrkdwn(post.body)


async def test_only_the_installer_and_chosen_admins_may_open_the_setup(
    deployment: Caseroom, sandbox: SandboxHandle
) -> None:
    fake = deployment.fake
    ws, alice = fake.workspace, deployment.user
    mallory = ws.add_user("mallory", email="mallory@collector.example")
    await install(deployment, ws.TEAM_ID, alice.id)
    home = await open_home(deployment.driver, ws, mallory.id)
    assert "Set up Debitura" not in json.dumps(home)  # not offered to others
    ack = await deployment.driver.global_shortcut("caseroom_workspace_setup", user=mallory.id)
    assert ack.ok
    shown = await fake.journal.wait_for(lambda: ws.top_view(mallory.id), timeout=10)
    assert "Only the person who installed Caseroom" in json.dumps(shown.data)
    assert (await set_up(deployment.driver, ws, alice.id, sandbox.api_key)).ok


async def test_requests_do_not_spend_the_workspaces_auth_test_budget(
    deployment: Caseroom, fake_slack: FakeSlack, sandbox: SandboxHandle
) -> None:
    """Bolt authorizes each request from the installation store; the token's auth.test answer is
    remembered, so a busy workspace's requests do not each call auth.test (Slack limits it per
    workspace: answered 429, Bolt would take the token for invalid and refuse the request)."""
    ws, alice = fake_slack.workspace, deployment.user
    await install(deployment, ws.TEAM_ID, alice.id)
    assert (await set_up(deployment.driver, ws, alice.id, sandbox.api_key)).ok
    calls = len(fake_slack.journal.calls("auth.test"))
    for _ in range(6):
        ack = await command(deployment.driver, "help", alice.id, deployment.channel.id)
        assert "reinstall" not in ack.body and "/case" in ack.body, ack.body
    assert len(fake_slack.journal.calls("auth.test")) - calls <= 1


async def test_enterprise_grid_workspace_installs_alone_and_an_org_wide_install_is_refused(
    deployment: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis
) -> None:
    """A workspace of a Grid org installing Caseroom for itself is keyed by its team (its own tenant,
    another workspace of the same org is another); an org-wide install is refused with the reason,
    its token revoked, and nothing of it is stored."""
    fake = deployment.fake
    keys = Keys(deployment.redis_prefix)
    grid = fake.add_team("T0GRIDONE", domain="grid-one", enterprise_id="E0GRIDORG")
    gina = grid.add_user("gina", email="gina@grid.example")
    room = grid.add_channel("grid-collections", members=[gina.id])
    other = fake.add_team("T0GRIDTWO", domain="grid-two", enterprise_id="E0GRIDORG")
    otto = other.add_user("otto", email="otto@grid.example")
    room_other = other.add_channel("grid-two-collections", members=[otto.id])

    await install(deployment, grid.TEAM_ID, gina.id)
    assert fake.oauth.access_log[-1]["enterprise"]["id"] == "E0GRIDORG"
    assert await redis.exists(keys.for_workspace(grid.TEAM_ID).slack_installation())
    driver = deployment.driver.for_team(grid)
    assert (await set_up(driver, grid, gina.id, sandbox.api_key)).ok
    case = sandbox.case("Active")
    post = await reply(deployment, await command(driver, case["reference"], gina.id, room.id))
    assert case["reference"] in mrkdwn(post.body)

    fake.oauth.org_wide = True
    page = await install(deployment, other.TEAM_ID, otto.id, expect=400)
    assert fake.oauth.access_log[-1]["is_enterprise_install"] is True
    assert "cannot be installed org-wide" in html.unescape(page)
    org_token = fake.oauth.access_log[-1]["access_token"]
    assert fake.oauth.token_error(org_token) == "token_revoked"  # given back, not left valid
    assert not await redis.exists(keys.for_workspace("E0GRIDORG").slack_installation())
    assert sorted(await redis.smembers(keys.workspaces())) == [grid.TEAM_ID]
    # The org's other workspace is not installed: it gets nothing of the first, though in the same org.
    ack = await deployment.driver.for_team(other).command("/case", case["reference"], user=otto.id,
                                                          channel=room_other.id)
    answers = [r.body for r in deployment.fake.journal.responses(ack.response_url, accepted_only=False)]
    assert "reinstall this app" in json.dumps(answers)  # Bolt's answer, given before the ack
    assert case["reference"] not in ack.body + json.dumps(answers)
