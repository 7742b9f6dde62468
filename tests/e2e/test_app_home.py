"""App Home through the real process (issue 13): the relay fills Redis from the sandbox, then people open
Caseroom's Home tab in the fake Slack. Each person sees their own queue, an admin also sees the team
view and the unassigned cases, a person with no Debitura account is told how to fix it, and muting a
case (button or `/case mute`) takes it out of the queue."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from blocks.ids import Action
from bot.config import DEFAULT_RELAY_LIFECYCLES
from bot.debitura.client import DebituraClient
from bot.debitura.models import Case, Lifecycle
from bot.store.identity import IdentityStore
from bot.store.keys import Keys
from tests.e2e.case_helpers import reply, run
from tests.fakes.slack.server import FakeSlack
from tests.fixtures.e2e import Caseroom
from tests.fixtures.sandbox import SandboxHandle
from tests.relay.harness import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox]

RELAY_ENV = {
    "CASEROOM_RELAY_SWEEP_INTERVAL": "3600",
    "CASEROOM_RELAY_FIRST_SPREAD": "1",
    "CASEROOM_MAX_STALENESS": "3600",
    "CASEROOM_RATE_PER_DAY": "20000000",
    "CASEROOM_RATE_PER_HOUR": "1000000",
    "CASEROOM_HOME_ROWS": "40",
}
RELAYED = {Lifecycle(name) for name in DEFAULT_RELAY_LIFECYCLES}
TITLES = ("Waiting for activation", "Creditor waiting for a reply", "Needs info", "Exclusive period ending")


def email_of(case: Case) -> str:
    return (case.assigned_user.email or "").lower() if case.assigned_user else ""


async def our_cases(sandbox: SandboxHandle) -> list[Case]:
    client = DebituraClient(sandbox.url, sandbox.api_key, max_retries=0)
    try:
        return [case async for case in client.iter_cases(page_size=100)]
    finally:
        await client.aclose()


async def expected_queues(sandbox: SandboxHandle, cases: list[Case]) -> dict[str, dict[str, set[str]]]:
    """Per assignee email ("" unassigned): section title -> references, from Debitura's own answers."""
    now = time.time()
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: {title: set() for title in TITLES})
    client = DebituraClient(sandbox.url, sandbox.api_key, max_retries=0)
    try:
        for case in cases:
            if case.lifecycle_name not in RELAYED or not case.reference:
                continue
            queue = out[email_of(case)]
            if case.lifecycle_name is Lifecycle.PendingVerification:
                queue["Waiting for activation"].add(case.reference)
            chats = sorted(await client.list_chats(case.id), key=lambda c: c.date_created or 0)
            waiting = False
            for chat in chats:
                waiting = int(chat.role) == 1 if chat.role in (0, 1, 2) else waiting
            if waiting:
                queue["Creditor waiting for a reply"].add(case.reference)
            if case.needs_info:
                queue["Needs info"].add(case.reference)
            end = case.exclusive_period_end_date
            if end is not None and now + 60 < end.timestamp() < now + 14 * 86400 - 60:
                queue["Exclusive period ending"].add(case.reference)
    finally:
        await client.aclose()
    return out


def texts(view: dict[str, Any]) -> list[str]:
    out = []
    for block in view["blocks"]:
        text = block.get("text")
        if isinstance(text, dict):
            out.append(str(text.get("text") or ""))
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("type") == "mrkdwn":
                out.append(str(element.get("text") or ""))
    return out


def section_refs(view: dict[str, Any], title: str) -> list[str]:
    """The references listed under one section heading of a Home (rows read `*REF* · debtor · ...`)."""
    refs: list[str] = []
    inside = False
    for text in texts(view):
        if text.startswith("*") and " (" in text and "·" not in text:
            inside = text.startswith(f"*{title}*")
            continue
        if inside and text.startswith("*") and "·" in text:
            refs.append(text[1:].split("*", 1)[0])
    return refs


async def opened(
    instance: Caseroom, fake: FakeSlack, user_id: str, after: str | None = None
) -> dict[str, Any]:
    """Open the Home tab and wait for a publish newer than `after` (a view hash)."""
    await instance.driver.app_home_opened(user_id)
    return await wait_home(fake, user_id, after)


async def wait_home(fake: FakeSlack, user_id: str, after: str | None = None) -> dict[str, Any]:
    def published() -> dict[str, Any] | None:
        view = fake.journal.home_for(user_id)
        return view if view is not None and view["hash"] != after else None

    return await fake.journal.wait_for(published, timeout=30, what=f"a Home for {user_id}")


async def test_app_home_shows_each_person_their_queue_and_the_admin_the_team(
    caseroom_factory: Callable[..., Awaitable[Caseroom]],
    sandbox: SandboxHandle,
    fake_slack: FakeSlack,
    redis: aioredis.Redis,
    redis_prefix: str,
) -> None:
    cases = await our_cases(sandbox)
    assigned: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        if email_of(case) and case.lifecycle_name in RELAYED - {Lifecycle.PendingVerification}:
            assigned[email_of(case)].append(case)
    people = sorted(assigned, key=lambda e: (-len(assigned[e]), e))
    assert len(people) >= 2, f"the seeded sandbox should have two assignees: {sorted(assigned)}"
    ana_email, bo_email = people[0], people[1]
    # Creditors write on two of Ana's cases and one of Bo's (the newest chat is theirs: waiting for a reply).
    for case in [*assigned[ana_email][:2], *assigned[bo_email][:1]]:
        sandbox.control.add_chat(case.id, "Any news on this one?", role=1)
    mine = await expected_queues(sandbox, cases)
    assert mine[ana_email]["Creditor waiting for a reply"] and mine[bo_email]["Creditor waiting for a reply"]
    ws = fake_slack.workspace
    ana = ws.add_user("ana", email=ana_email.upper())  # Slack's case may differ from Debitura's
    bo = ws.add_user("bo", email=bo_email)
    boss = ws.add_user("boss", email="boss@nowhere.example")
    stranger = ws.add_user("stranger", email="stranger@nowhere.example")
    instance = await caseroom_factory("http", relay=True, env={**RELAY_ENV, "CASEROOM_ADMIN_USERS": boss.id})
    keys = Keys(redis_prefix)
    relayed = [c for c in cases if c.lifecycle_name in RELAYED]

    async def fetched() -> bool:
        """The sweep stored and indexed every relayed case, and each had its first fetch (chats)."""
        members: set[str] = set()
        for email in await redis.smembers(keys.attention_owners()):
            members |= {str(m) for m in await redis.smembers(keys.attention_owner(str(email)))}
        if not {c.id for c in relayed} <= members:
            return False
        for case in relayed:
            base = await redis.hget(keys.case_state(case.id), "base")
            if "chats" not in str(base or "").split(","):
                return False
        return True

    await wait_until(fetched, 90, "the relay storing, indexing and fetching every relayed case")

    def queue_of(view: dict[str, Any]) -> dict[str, set[str]]:
        return {title: set(section_refs(view, title)) for title in TITLES}

    def expected_of(email: str) -> dict[str, set[str]]:
        return mine[email]

    home_ana = await opened(instance, fake_slack, ana.id)
    assert home_ana["type"] == "home" and len(home_ana["blocks"]) <= 100
    assert queue_of(home_ana) == expected_of(ana_email)
    buttons = [e for b in home_ana["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert {
        Action.HOME_REPLY.value,
        Action.HOME_OPEN_CARD.value,
        Action.HOME_FOLLOW.value,
        Action.HOME_MUTE.value,
        Action.HOME_SETTINGS.value,
    } <= {str(e["action_id"]) for e in buttons}
    home_bo = await opened(instance, fake_slack, bo.id)
    assert queue_of(home_bo) == expected_of(bo_email)
    assert not any("Team" in t for t in texts(home_bo))  # not an admin

    home_boss = await opened(instance, fake_slack, boss.id)
    boss_texts = "\n".join(texts(home_boss))
    for who, email in ((ana, ana_email), (bo, bo_email)):  # the team view: counts per person and section
        line = f"<@{who.id}>: " + " · ".join(str(len(refs)) for refs in mine[email].values())
        assert line in boss_texts, (line, boss_texts)
    # the admin's own queue: the unassigned cases (waiting for activation: the sandbox assigns at start)
    assert mine[""]["Waiting for activation"]
    assert queue_of(home_boss)["Waiting for activation"] == mine[""]["Waiting for activation"]
    assert [
        b
        for b in home_boss["blocks"]
        if b.get("type") == "actions"
        and any(e["action_id"] == Action.HOME_ACTIVATE.value for e in b["elements"])
    ]

    # The team list as the bot caches it after a write's identity check (GET /users): the stranger is
    # not in it and has no case.
    client = DebituraClient(sandbox.url, sandbox.api_key, max_retries=0)
    try:
        team = {(u.email or "").lower(): u.model_dump_json(by_alias=True) for u in await client.all_users()}
    finally:
        await client.aclose()
    await IdentityStore(redis, keys).replace_team(team, time.time())
    home_stranger = await opened(instance, fake_slack, stranger.id)
    assert "does not match any member of your Debitura team" in "\n".join(texts(home_stranger))

    # Mute from the Home: the case leaves the queue and shows under Muted; /case unmute brings it back.
    before = {ref for refs in queue_of(home_ana).values() for ref in refs}
    ack = await instance.driver.click(Action.HOME_MUTE, user=ana, view_id=home_ana["id"])
    assert ack.ok
    muted_home = await wait_home(fake_slack, ana.id, home_ana["hash"])
    after = {ref for refs in queue_of(muted_home).values() for ref in refs}
    gone = sorted(before - after)
    assert len(gone) == 1 and after < before
    assert section_refs(muted_home, "Muted") == gone
    assert len(await redis.smembers(keys.attention_mutes(ana.id))) == 1
    answer = await reply(instance, await run(instance, f"unmute {gone[0]}", user=ana.id))
    assert "Unmuted" in answer.text
    back = await opened(instance, fake_slack, ana.id, muted_home["hash"])
    assert queue_of(back) == expected_of(ana_email) and not section_refs(back, "Muted")
    answer = await reply(instance, await run(instance, f"mute {gone[0]}", user=ana.id))
    assert "Muted" in answer.text
    again = await opened(instance, fake_slack, ana.id, back["hash"])
    assert gone[0] not in {ref for refs in queue_of(again).values() for ref in refs}
    # Bo's queue is his own: Ana's mute changed nothing there
    assert queue_of(await opened(instance, fake_slack, bo.id, home_bo["hash"])) == expected_of(bo_email)

    # Open card: the card arrives in Caseroom's Messages tab (the Home has no response_url).
    im = ws.open_im(bo.id).id
    ref = sorted(section_refs(home_bo, "Creditor waiting for a reply"))[0]
    row = next(b for b in home_bo["blocks"] if b.get("type") == "section"
               and str((b.get("text") or {}).get("text", "")).startswith(f"*{ref}*"))
    buttons_block = home_bo["blocks"][home_bo["blocks"].index(row) + 1]
    await instance.driver.click(Action.HOME_OPEN_CARD, user=bo, view_id=home_bo["id"],
                                block_id=buttons_block["block_id"])

    def card() -> str | None:
        texts_ = [m.text for m in fake_slack.journal.messages(im, bot_only=True)]
        return next((t for t in texts_ if ref in t), None)

    assert await fake_slack.journal.wait_for(card, timeout=30, what="the card in the Messages tab")

    # Notification settings: a modal; saving stores the person's choices and publishes the Home again.
    latest = await wait_home(fake_slack, bo.id)
    await instance.driver.click(Action.HOME_SETTINGS, user=bo, view_id=latest["id"])
    modal = await fake_slack.journal.wait_for(lambda: fake_slack.journal.view_for(bo.id), timeout=30,
                                              what="the settings modal")
    assert modal["callback_id"] == "case_home_settings_modal"
    ack = await instance.driver.submit_view(user=bo, values={
        "pref_dms": ["assigned", "creditor_chat"], "pref_reminders": ["reply"], "pref_options": [],
        "pref_quiet_start": "19:00", "pref_quiet_end": "07:30", "pref_digest_time": "07:00"})
    assert ack.ok and ack.response_action is None
    stored = await redis.hget(keys.attention_prefs(), bo.id)
    assert stored is not None
    assert json.loads(stored) == {"channel_only": False, "digest": False, "digest_time": "07:00",
                                  "dms": ["assigned", "creditor_chat"], "quiet_hours": "19:00-07:30",
                                  "reminders": ["reply"], "weekends": False}
    await wait_home(fake_slack, bo.id, latest["hash"])
    await instance.driver.click(Action.HOME_SETTINGS, user=bo, view_id=latest["id"])
    reopened = await fake_slack.journal.wait_for(lambda: fake_slack.journal.view_for(bo.id), timeout=30,
                                                 what="the settings modal again")
    assert "07:30" in json.dumps(reopened)  # it shows what was saved
    bad = await instance.driver.submit_view(user=bo, values={"pref_quiet_start": "07:30"})
    assert bad.response_action == "errors" and "pref_quiet_end" in bad.errors

    # Activate (the admin's unassigned pending cases) runs the activation flow: here it says why the
    # boss cannot activate (no Debitura team member with their email), as the flow does everywhere.
    await instance.driver.click(Action.HOME_ACTIVATE, user=boss, view_id=home_boss["id"])

    def activation() -> dict[str, Any] | None:
        view = fake_slack.journal.view_for(boss.id)
        if view is None or view["title"]["text"] != "Activate case":
            return None
        return None if "Loading" in json.dumps(view) else view

    answer_view = await fake_slack.journal.wait_for(activation, timeout=30, what="the activation flow")
    assert "does not match any member of your Debitura team" in json.dumps(answer_view)
