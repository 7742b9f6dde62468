"""Cross-tenant attempts with two real partners (issue 16): workspace A's key is one Debitura partner,
workspace B's another (two sandboxes behind one URL, as Debitura is one API whose key names the
partner: tests/fixtures/partners.py), each with its own cases. Through the fake Slack's signed
requests, a person of A names B's case every way a case can be named, clicks buttons copied from B's
card, posts B's case to A's webhook door, and opens App Home: A's Debitura answers (not found), B's is
never asked, nothing of B reaches A, and nothing of B (its Redis keys, its channels) changes."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from blocks.ids import Action
from blocks.notify import CaseLine, build_assigned_dm, build_creditor_chat_dm
from blocks.relay import build_chat_message
from bot.debitura.webhooks import sign
from bot.sandbox.app import Sandbox
from bot.sandbox.model import CaseRec
from bot.store.keys import Keys
from tests.e2e.case_helpers import mrkdwn, reply
from tests.e2e.test_multi_workspace import SECRET_A, SECRET_B, install, multi_env, open_home, set_up
from tests.fakes.slack.driver import Driver
from tests.fakes.slack.workspace import Channel, User, Workspace
from tests.fixtures.e2e import Caseroom, Factory
from tests.fixtures.partners import Partners
from tests.relay.harness import wait_until

pytestmark = pytest.mark.e2e

EMAIL = "anna.berg@nordlys-collection.example"
"""A team member of both partners (the sandboxes share their team list): assigned cases in each."""
RELAY_ENV = {"CASEROOM_RELAY_SWEEP_INTERVAL": "3600", "CASEROOM_RELAY_FIRST_SPREAD": "1",
             "CASEROOM_MAX_STALENESS": "3600", "CASEROOM_RELAY_LEASE": "3",
             "CASEROOM_RATE_PER_DAY": "20000000", "CASEROOM_RATE_PER_HOUR": "1000000"}


@pytest.fixture
async def partners() -> AsyncIterator[Partners]:
    async with Partners(Sandbox(seed=7, n_cases=20), Sandbox(seed=8, n_cases=20)) as both:
        yield both


@dataclass
class Agencies:
    caseroom: Caseroom
    partners: Partners
    redis: aioredis.Redis
    a: Sandbox
    b: Sandbox
    ws_a: Workspace
    ws_b: Workspace
    alice: User
    bob: User
    room_b: Channel
    driver_a: Driver
    driver_b: Driver
    keys_a: Keys
    keys_b: Keys

    async def b_keys(self) -> dict[str, Any]:
        """Every Redis key of workspace B with its value (DUMP), to prove nothing of B changed."""
        names = sorted([k async for k in self.redis.scan_iter(match=self.keys_b.workspace_pattern())])
        return {name: await self.redis.dump(name) for name in names}

    def b_slack(self) -> dict[str, Any]:
        """B's channels, their messages and B's views, to prove nothing of B changed in Slack."""
        return {"channels": {c.id: (c.name, c.topic, len(c.messages), sorted(c.members))
                             for c in self.ws_b.channels.values()},
                "views": sorted(self.ws_b.views), "homes": dict(self.ws_b.home_views)}


async def agencies(factory: Factory, partners: Partners, redis: aioredis.Redis, *, relay: bool) -> Agencies:
    a, b = partners.sandboxes
    env = {**multi_env(), "DEBITURA_API_URL": partners.url, "DEBITURA_API_KEY": ""}
    caseroom = await factory("http", relay=relay, env={**env, **(RELAY_ENV if relay else {})})
    fake = caseroom.fake
    ws_a, alice = fake.workspace, caseroom.user
    ws_b = fake.add_team("T0SECOND", domain="second-agency")
    bob = ws_b.add_user("bob", email="bob@second.example", real_name="Bob Second")
    room_b = ws_b.add_channel("collections-b", members=[bob.id])
    driver_a = caseroom.driver
    driver_b = driver_a.for_team(ws_b)
    await install(caseroom, ws_a.TEAM_ID, alice.id)
    await install(caseroom, ws_b.TEAM_ID, bob.id)
    assert (await set_up(driver_a, ws_a, alice.id, partners.key(a), SECRET_A)).ok
    assert (await set_up(driver_b, ws_b, bob.id, partners.key(b), SECRET_B)).ok
    prefix = Keys(caseroom.redis_prefix)
    return Agencies(caseroom, partners, redis, a, b, ws_a, ws_b, alice, bob, room_b, driver_a, driver_b,
                    prefix.for_workspace(ws_a.TEAM_ID), prefix.for_workspace(ws_b.TEAM_ID))


def ours(sandbox: Sandbox) -> list[CaseRec]:
    return [c for c in sandbox.state.cases.values()
            if c.partner_id == sandbox.state.partner.id and not c.is_test]


def b_only_case(a: Sandbox, b: Sandbox) -> CaseRec:
    """An active case of B whose every name (reference, partner and creditor references) is A's for
    nothing: so "not found" in A is the only right answer."""
    refs = {c.reference for c in ours(a)}
    partner_refs = {c.partner_reference for c in ours(a)}
    creditor_refs = {(c.creditor_id, c.creditor_reference) for c in ours(a)}
    for case in ours(b):
        if case.lifecycle == "Active" and case.partner_reference and case.creditor_reference \
                and case.reference not in refs and case.partner_reference not in partner_refs \
                and (case.creditor_id, case.creditor_reference) not in creditor_refs:
            return case
    raise LookupError("no case of B named differently from all of A's")


def secrets_of(case: CaseRec) -> list[str]:
    """What of B's case must never reach A: the debtor's name, the amount left, the creditor's ref."""
    name = str(case.debtor.get("name") or "")
    assert name
    return [name, f"{case.remainder:,.2f}", str(case.creditor_reference)]


def seen_by_a(agencies: Agencies, since_calls: int, since_responses: int) -> str:
    """Everything A's people could have been shown since: Web API calls, response_url posts, views."""
    journal = agencies.caseroom.fake.journal
    calls = journal.calls()[since_calls:]
    responses = journal.responses(accepted_only=False)[since_responses:]
    views = [v.to_api() for v in agencies.ws_a.views.values()]
    return json.dumps([[c.args for c in calls], [r.body for r in responses], views])


async def answer_of(agencies: Agencies, text: str) -> str:
    """`/case <text>` by Alice in A: the ack and the reply it promises (response_url or a modal)."""
    caseroom = agencies.caseroom
    journal = caseroom.fake.journal
    ack = await agencies.driver_a.command("/case", text, user=agencies.alice.id, channel=caseroom.channel.id)
    assert ack.ok, (ack.status, ack.body)
    if ack.text.strip():
        return ack.text

    def answered() -> str | None:
        posts = journal.responses(ack.response_url)
        if posts:
            return mrkdwn(posts[-1].body)
        view = agencies.ws_a.top_view(agencies.alice.id)  # the modals (debtor) load into a view
        shown = mrkdwn(view.data) if view is not None else ""
        return shown if shown and "Loading" not in shown else None

    found: str = await journal.wait_for(answered, timeout=20, what=f"the answer to /case {text}")
    if agencies.ws_a.top_view(agencies.alice.id) is not None:
        await agencies.driver_a.close_view(user=agencies.alice.id)
    return found


async def test_naming_a_case_of_b_in_a_finds_nothing_and_asks_only_a(
    caseroom_factory: Factory, partners: Partners, redis: aioredis.Redis
) -> None:
    ag = await agencies(caseroom_factory, partners, redis, relay=False)
    case = b_only_case(ag.a, ag.b)
    hidden = secrets_of(case)
    # B's own people see the case, with what must never reach A.
    card_b = await reply(ag.caseroom, await ag.driver_b.command("/case", case.reference, user=ag.bob.id,
                                                                channel=ag.room_b.id))
    shown_b = mrkdwn(card_b.body)
    assert case.reference in shown_b and hidden[0] in shown_b and hidden[1] in shown_b

    b_keys, b_slack, b_asked = await ag.b_keys(), ag.b_slack(), len(ag.partners.asked[ag.b])
    journal = ag.caseroom.fake.journal
    calls, responses = len(journal.calls()), len(journal.responses(accepted_only=False))
    names = [case.reference, case.id, f"creditor:{case.creditor_id}:{case.creditor_reference}",
             f'partner:"{case.partner_reference}"', f"chats {case.reference}", f"debtor {case.reference}",
             f"follow {case.reference}", f"mute {case.reference}", f"find {case.partner_reference}"]
    for name in names:
        asked_a = len(ag.partners.asked[ag.a])
        answer = await answer_of(ag, name)
        assert "not found" in answer.lower() or "no case" in answer.lower(), (name, answer)
        assert len(ag.partners.asked[ag.a]) > asked_a, f"A's Debitura was not asked for {name}"
    assert not any(h in seen_by_a(ag, calls, responses) for h in hidden)
    assert len(ag.partners.asked[ag.b]) == b_asked, ag.partners.asked[ag.b][b_asked:]
    assert await ag.b_keys() == b_keys
    assert ag.b_slack() == b_slack


def buttons(blocks: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    """(block id, action id) of every button of a message (a card's actions)."""
    return [(b.get("block_id"), e["action_id"]) for b in blocks if b.get("type") == "actions"
            for e in b["elements"] if e.get("type") == "button"]


async def test_buttons_copied_from_bs_messages_and_clicked_in_a_touch_nothing_of_b(
    caseroom_factory: Factory, partners: Partners, redis: aioredis.Redis
) -> None:
    ag = await agencies(caseroom_factory, partners, redis, relay=False)
    case = b_only_case(ag.a, ag.b)
    hidden = secrets_of(case)
    card_b = await reply(ag.caseroom, await ag.driver_b.command("/case", case.reference, user=ag.bob.id,
                                                                channel=ag.room_b.id))
    # B's payments view (Edit / Delete per payment), as Bob sees it from the card.
    shown_b = ag.ws_b.add_bot_message(ag.ws_b.channels[ag.room_b.id], text=card_b.text,
                                      blocks=card_b.body["blocks"], attachments=None, thread_ts=None,
                                      metadata=None)
    listed = await ag.driver_b.click(Action.SHOW_PAYMENTS, user=ag.bob.id, channel=ag.room_b.id,
                                     message_ts=shown_b.ts)
    payments_b = await reply(ag.caseroom, listed)
    # What B's relay posts for the case: a relayed creditor chat in its room, and DMs to its people.
    line = CaseLine(case_id=case.id, reference=case.reference, debtor="B's debtor")
    relayed_b = [
        build_chat_message(case_id=case.id, reference=case.reference, author="Creditor of B",
                           role_label="Creditor", from_creditor=True, created=time.time(), message="Hi"),
        build_assigned_dm(dataclasses.replace(line, lifecycle="PendingVerification")),  # with Activate
        build_creditor_chat_dm(line, author="Creditor of B", message="Hi", at=time.time()),
    ]
    # Alice's copies of B's card, payments and relayed messages, in A's channel: every button carries
    # B's values.
    channel_a = ag.ws_a.channels[ag.caseroom.channel.id]
    shown = [(m.text, m.body["blocks"]) for m in (card_b, payments_b)] + relayed_b
    copies = [ag.ws_a.add_bot_message(channel_a, text=text, blocks=blocks, attachments=None,
                                      thread_ts=None, metadata=None) for text, blocks in shown]
    clickable = [(copy, block_id, action_id) for copy in copies
                 for block_id, action_id in buttons(copy.blocks or [])]
    assert {Action.FOLLOW, Action.OPEN_NOTE, Action.OPEN_PAYMENT, Action.EDIT_PAYMENT, Action.DELETE_PAYMENT,
            Action.REPLY, Action.NOTE_FROM_RELAY, Action.SHOW_CARD, Action.OPEN_ACTIVATE,
            } <= {a for _, _, a in clickable}, clickable
    b_keys, b_slack, b_asked = await ag.b_keys(), ag.b_slack(), len(ag.partners.asked[ag.b])
    a_channels = set(ag.ws_a.channels)
    journal = ag.caseroom.fake.journal
    calls, responses = len(journal.calls()), len(journal.responses(accepted_only=False))
    for copy, block_id, action_id in clickable:
        asked_a = len(ag.partners.asked[ag.a])
        ack = await ag.driver_a.click(action_id, user=ag.alice.id, channel=channel_a.id, message_ts=copy.ts,
                                      block_id=block_id)
        assert ack.ok, (action_id, ack.status, ack.body)

        def answered(url: str | None = ack.response_url) -> str | None:
            posts = journal.responses(url)
            if posts:
                return mrkdwn(posts[-1].body)
            view = ag.ws_a.top_view(ag.alice.id)
            shown = mrkdwn(view.data) if view is not None else ""
            return shown if shown and "Loading" not in shown else None

        answer: str = await journal.wait_for(answered, timeout=20, what=f"the answer to {action_id}")
        assert "not found" in answer.lower(), (action_id, answer)
        assert len(ag.partners.asked[ag.a]) > asked_a, f"A's Debitura was not asked for {action_id}"
        if ag.ws_a.top_view(ag.alice.id) is not None:
            await ag.driver_a.close_view(user=ag.alice.id)
    assert not any(h in seen_by_a(ag, calls, responses) for h in hidden)
    assert len(ag.partners.asked[ag.b]) == b_asked, ag.partners.asked[ag.b][b_asked:]
    assert await ag.b_keys() == b_keys
    assert ag.b_slack() == b_slack
    assert set(ag.ws_a.channels) == a_channels  # no channel for B's case in A either
    assert not [k async for k in redis.scan_iter(match=ag.keys_a.workspace_pattern()) if case.id in k]


def assigned(sandbox: Sandbox, email: str) -> list[str]:
    """References of the partner's active cases assigned to the team member with `email`."""
    out = []
    for case in ours(sandbox):
        user = sandbox.state.user_by_id(case.assigned_user_id) if case.assigned_user_id else None
        if user is not None and user.email == email and case.lifecycle == "Active":
            out.append(case.reference)
    return out


async def home_of(ag: Agencies, driver: Driver, ws: Workspace, user: User, sandbox: Sandbox,
                  wanted: str) -> str:
    """The person's App Home, opened once the workspace's relay has read the case `wanted` of theirs
    (its chats read, its owner index naming it)."""
    keys = ag.keys_a if ws is ag.ws_a else ag.keys_b
    case_id = next(c.id for c in ours(sandbox) if c.reference == wanted)

    async def indexed() -> bool:
        base = str(await ag.redis.hget(keys.case_state(case_id), "base") or "")
        return "chats" in base.split(",") and bool(await ag.redis.sismember(keys.attention_owner(EMAIL),
                                                                              case_id))

    try:
        await wait_until(indexed, 60, f"{wanted} read by the relay of {ws.TEAM_ID}")
    except AssertionError:
        raise AssertionError(ag.caseroom.output[-4000:]) from None
    return json.dumps(await open_home(driver, ws, user.id))


async def test_webhooks_of_b_at_as_door_and_as_app_home_never_reach_b(
    caseroom_factory: Factory, partners: Partners, redis: aioredis.Redis
) -> None:
    a, b = partners.sandboxes
    # The same person is a team member of both partners, with a case of each where the creditor waits
    # for a reply (what App Home lists): A's Home shows A's, never B's (B's Home, listing B's, proves
    # it is there to be shown).
    a_mine = assigned(a, EMAIL)
    b_mine = [ref for ref in assigned(b, EMAIL) if ref not in {c.reference for c in ours(a)}]
    assert b_mine and a_mine
    for sandbox, ref in ((a, a_mine[0]), (b, b_mine[0])):
        case_id = next(c.id for c in ours(sandbox) if c.reference == ref)
        partners.control(sandbox).add_chat(case_id, "Any news on this one?", role=1)
    ag = await agencies(caseroom_factory, partners, redis, relay=True)
    case = b_only_case(ag.a, ag.b)
    base = ag.caseroom.base_url

    def post(team: str, secret: str, event_id: str) -> tuple[str, bytes, dict[str, str]]:
        body = json.dumps({"id": event_id, "event": "chat.created", "timestamp": "2026-12-03T08:00:00Z",
                           "data": {"caseId": case.id}}).encode()
        headers = {"X-Debitura-Signature": sign(secret, body, int(time.time())),
                   "Content-Type": "application/json"}
        return f"{base}/debitura/webhooks/{team}", body, headers

    anna_a = ag.ws_a.add_user("anna", email=EMAIL, real_name="Anna Berg")
    anna_b = ag.ws_b.add_user("anna", email=EMAIL, real_name="Anna Berg")
    home_b = await home_of(ag, ag.driver_b, ag.ws_b, anna_b, ag.b, b_mine[0])
    assert b_mine[0] in home_b
    home_a = await home_of(ag, ag.driver_a, ag.ws_a, anna_a, ag.a, a_mine[0])
    assert a_mine[0] in home_a
    assert not [ref for ref in b_mine if ref in home_a]

    # The buttons of B's Home (open the card, reply, follow, mute...), copied and clicked by Anna in A.
    room = ag.ws_a.add_channel("anna-room", members=[anna_a.id])
    copy = ag.ws_a.add_bot_message(room, text="copied", blocks=json.loads(home_b)["blocks"],
                                   attachments=None, thread_ts=None, metadata=None)
    home_buttons = [(block_id, action) for block_id, action in buttons(copy.blocks or [])
                    if action in (Action.HOME_OPEN_CARD, Action.HOME_REPLY, Action.HOME_ACTIVATE,
                                  Action.HOME_FOLLOW, Action.HOME_MUTE)]
    assert {Action.HOME_OPEN_CARD, Action.HOME_MUTE} <= {a for _, a in home_buttons}, home_buttons
    journal = ag.caseroom.fake.journal
    b_ids = [c.id for c in ours(ag.b) if c.reference in b_mine]
    for block_id, action in home_buttons:
        told = len(journal.calls("chat.postMessage"))
        ack = await ag.driver_a.click(action, user=anna_a.id, channel=room.id, message_ts=copy.ts,
                                      block_id=block_id)
        assert ack.ok, (action, ack.status, ack.body)

        def answered(told: int = told) -> str | None:
            dms = [c for c in journal.calls("chat.postMessage")[told:] if c.args.get("channel") == anna_a.id]
            if dms:
                return str(dms[-1].args.get("text"))
            view = ag.ws_a.top_view(anna_a.id)
            shown = mrkdwn(view.data) if view is not None else ""
            return shown if shown and "Loading" not in shown else None

        answer: str = await journal.wait_for(answered, timeout=20, what=f"the answer to {action}")
        assert "not found" in answer.lower() or "not one of this workspace's" in answer, (action, answer)
        if ag.ws_a.top_view(anna_a.id) is not None:
            await ag.driver_a.close_view(user=anna_a.id)
    assert not await redis.smembers(ag.keys_a.attention_mutes(anna_a.id))
    assert not [k async for k in redis.scan_iter(match=ag.keys_a.workspace_pattern())
                if any(case_id in k for case_id in b_ids)]

    def rooms_of_a() -> set[str]:  # case channels (the relay may DM Anna about A's own case meanwhile)
        return {c.id for c in ag.ws_a.channels.values() if not c.is_im}

    a_channels = rooms_of_a()
    async with aiohttp.ClientSession() as session:
        # B's door refuses A's secret; A's door takes the event, signed with A's secret.
        url, body, headers = post(ag.ws_b.TEAM_ID, SECRET_A, "evt-b-with-a")
        async with session.post(url, data=body, headers=headers) as resp:
            assert resp.status == 401
        url, body, headers = post(ag.ws_a.TEAM_ID, SECRET_A, "evt-b-at-a")
        async with session.post(url, data=body, headers=headers) as resp:
            assert resp.status == 200 and (await resp.json())["status"] == "queued"
    assert not await redis.exists(ag.keys_b.webhook_seen("evt-b-with-a"))

    # A's relay asks A's Debitura, which does not know the case: nothing is made of it in A.
    async def fetched() -> bool:
        asked = f"GET /cases/{case.id}" in ag.partners.asked[ag.a]
        return asked and await redis.zscore(ag.keys_a.schedule(), case.id) is None

    await wait_until(fetched, 30, "A's relay's fetch of the case")
    assert not [k async for k in redis.scan_iter(match=ag.keys_a.workspace_pattern()) if case.id in k]
    assert rooms_of_a() == a_channels
    said_in_a = json.dumps([m.text for c in ag.ws_a.channels.values() for m in c.messages])
    assert not any(h in said_in_a for h in secrets_of(case))
