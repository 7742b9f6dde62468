"""Replying from the thread (issue 14, part A), through `caseroom run` with the fake Slack and the sandbox.

A thread reply under a relayed creditor chat is offered ("Send this to the creditor as you?"), sent
once after Send (a redelivered event, a double click, the Edit modal), never without it, and shows in
the sandbox as written by that person; refusals for guests, Slack Connect, bots and people without a
Debitura account; the note reaction makes one note.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import aiohttp
import pytest
import redis.asyncio as aioredis

from blocks.ids import Action, Block, Callback, Shortcut
from bot.debitura.webhooks import sign
from bot.store.keys import Keys
from bot.store.reads import hgetall
from tests.e2e.case_helpers import reply, run
from tests.e2e.modal_flows import sandbox_get, wait_result, wait_view
from tests.fakes.slack import payloads
from tests.fakes.slack.journal import Ephemeral
from tests.fakes.slack.workspace import Channel, Message, User
from tests.fixtures.e2e import Caseroom
from tests.fixtures.sandbox import SandboxHandle
from tests.relay.harness import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox]

TIMEOUT = 20.0
SECRET = base64.b64encode(b"caseroom-e2e-thread-secret-01234").decode()


def team_member(cr: Caseroom, sandbox: SandboxHandle) -> User:
    """A Slack user whose email is a Debitura team member's."""
    return cr.fake.workspace.add_user("member", email=sandbox.user_email(), real_name="Team Member")


async def case_room(cr: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis, *people: User
                    ) -> tuple[dict[str, Any], Channel]:
    """An Active case followed with /case follow: its channel, with `people` in it."""
    case = sandbox.case("Active")
    await reply(cr, await run(cr, f"follow {case['reference']}"))
    keys = Keys(cr.redis_prefix)
    channel_id = cast(str | None, await redis.hget(keys.case_channel(case["id"]), "id")) or ""
    channel = cr.fake.workspace.channels[channel_id]
    channel.members.update(p.id for p in people)
    return case, channel


def relayed_chat(cr: Caseroom, sandbox: SandboxHandle, case: dict[str, Any], channel: Channel, *,
                 role: int = 1, stamped: bool = False) -> tuple[dict[str, Any], Message]:
    """A chat in the sandbox and its message in the channel, stamped as the relay stamps its posts
    (`stamped`: with the chat's role, as the relay does now; else as it did before)."""
    text = f"Any news from the debtor? {uuid.uuid4().hex[:6]}"
    chat = sandbox.control.add_chat(case["id"], text, role=role)
    payload: dict[str, Any] = {"item_id": f"chat:{chat['id']}", "case_id": case["id"]}
    if stamped:
        payload["role"] = role
    metadata = {"event_type": "caseroom_item", "event_payload": payload}
    message = cr.fake.workspace.add_bot_message(channel, text=f"Creditor chat: {text}", blocks=None,
                                                attachments=None, thread_ts=None, metadata=metadata)
    return chat, message


def chats(sandbox: SandboxHandle, case_id: str) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], sandbox_get(sandbox, f"/cases/{case_id}/chats"))


async def ephemeral(cr: Caseroom, user: User, contains: str, *, count: int = 1) -> list[Ephemeral]:
    """The ephemerals shown to `user` that contain `contains`, once there are `count` of them."""
    journal = cr.fake.journal

    def found() -> list[Ephemeral] | None:
        hits = [e for e in journal.ephemerals(user=user.id) if contains in _text(e)]
        return hits if len(hits) >= count else None

    try:
        return await journal.wait_for(found, timeout=TIMEOUT, what=f"ephemeral with {contains!r}")
    except TimeoutError:
        shown = [_text(e)[:300] for e in journal.ephemerals(user=user.id)]
        raise AssertionError(f"no ephemeral {contains!r} for {user.name}; shown: {shown}\n{cr.output[-3000:]}"
                             ) from None


def _text(e: Ephemeral) -> str:
    return e.text + " " + str(e.blocks)


async def settled(cr: Caseroom) -> None:
    """Before asserting that something did *not* happen: give the app time to finish what it started
    after the ack (events are handled after the 200). Not a timing assertion: a slow machine can only
    make the check weaker, never fail it."""
    await asyncio.sleep(1.5)


@pytest.mark.parametrize("caseroom", ["http", "socket"], indirect=True)
async def test_a_thread_reply_is_sent_once_after_send_as_the_person(
    caseroom: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis
) -> None:
    cr = caseroom
    member = team_member(cr, sandbox)
    case, channel = await case_room(cr, sandbox, redis, member)
    _, parent = relayed_chat(cr, sandbox, case, channel)
    before = len(chats(sandbox, case["id"]))

    answer = f"The debtor promised to pay Friday {uuid.uuid4().hex[:6]}"
    message, ack = await cr.driver.thread_reply(answer, user=member, channel=channel.id, thread_ts=parent.ts)
    assert ack.ok
    [offer] = await ephemeral(cr, member, "Send this to the creditor as you?")
    assert offer.thread_ts == parent.ts and offer.channel == channel.id
    # Slack retries the event (same event_id) and delivers it again (new event_id): still one offer
    event = payloads.message_event(message, "group")  # case channels are private by default
    await cr.driver.event(event, event_id="EvRETRY1")
    await cr.driver.event(event, event_id="EvRETRY1", retry_num=1, retry_reason="http_timeout")
    await cr.driver.event(event, event_id="EvAGAIN2")
    await settled(cr)
    assert len([e for e in cr.fake.journal.ephemerals(user=member.id) if "as you?" in _text(e)]) == 1
    assert len(chats(sandbox, case["id"])) == before, "nothing is sent without Send"

    # an edit before Send changes what is sent
    edited = answer + " (edited)"
    assert (await cr.driver.edit_message(message, edited)).ok

    # Send clicked twice at once: one chat
    first, second = await asyncio.gather(
        cr.driver.click(Action.THREAD_SEND, user=member, channel=channel.id, message_ts=offer.message_ts),
        cr.driver.click(Action.THREAD_SEND, user=member, channel=channel.id, message_ts=offer.message_ts),
    )
    assert first.ok and second.ok
    for click in (first, second):
        await cr.fake.journal.wait_for(lambda c=click: cr.fake.journal.responses(c.response_url),
                                       timeout=TIMEOUT, what="the answer to Send")
    answers = [cr.fake.journal.responses(c.response_url)[-1].text for c in (first, second)]
    assert all("Sent to the creditor at" in a or "Already sent" in a for a in answers), answers
    after = chats(sandbox, case["id"])
    mine = [c for c in after if answer in c["message"]]
    assert len(mine) == 1 and len(after) == before + 1
    assert mine[0]["message"] == edited
    assert mine[0]["user"]["email"].lower() == sandbox.user_email().lower()
    assert mine[0]["role"] == 0  # written by the collection partner's team member, not the creditor
    assert any(r["name"] == "white_check_mark" for r in message.reactions)
    async with aiohttp.ClientSession() as session, session.get(f"{cr.base_url}/metrics") as resp:
        metrics = await resp.text()
    assert 'caseroom_thread_messages_total{outcome="sent",what="send"} 1.0' in metrics
    assert 'caseroom_thread_messages_total{outcome="offered",what="offer"} 1.0' in metrics

    # Slack delivering the reply again after it was sent: nothing more
    await cr.driver.event(event, event_id="EvAGAIN3")
    await settled(cr)
    assert len(chats(sandbox, case["id"])) == before + 1

    # an edit after sending is not sent, and the author is told so
    assert (await cr.driver.edit_message(message, edited + " and more")).ok
    await ephemeral(cr, member, "Your edit was *not* sent")
    assert len(chats(sandbox, case["id"])) == before + 1
    assert [c["message"] for c in chats(sandbox, case["id"]) if answer in c["message"]] == [edited]


async def test_the_role_in_the_relays_stamp_spares_the_chat_listing(
    caseroom_http: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis
) -> None:
    """A chat relayed with its role in the metadata is known to be the creditor's without listing the
    case's chats; one relayed before the role was stamped is still checked with the listing."""
    cr = caseroom_http
    member = team_member(cr, sandbox)
    case, channel = await case_room(cr, sandbox, redis, member)
    counter = sandbox.control.add_fault(f"/cases/{case['id']}/chats", method="GET")  # counts, changes nothing

    def listings() -> int:
        return sum(int(f["hits"]) for f in sandbox.control.faults() if f["id"] == counter["id"])

    _, stamped = relayed_chat(cr, sandbox, case, channel, stamped=True)
    say = cr.driver.thread_reply
    await say("Stamped: paying Friday", user=member, channel=channel.id, thread_ts=stamped.ts)
    await ephemeral(cr, member, "Stamped: paying Friday")
    assert listings() == 0

    _, partner = relayed_chat(cr, sandbox, case, channel, role=0, stamped=True)
    await say("Under our own chat", user=member, channel=channel.id, thread_ts=partner.ts)
    _, older = relayed_chat(cr, sandbox, case, channel)
    await say("Unstamped: paying Monday", user=member, channel=channel.id, thread_ts=older.ts)
    await ephemeral(cr, member, "Unstamped: paying Monday")
    await settled(cr)
    assert listings() == 1  # the older message only
    assert not [e for e in cr.fake.journal.ephemerals(user=member.id) if "Under our own chat" in _text(e)]


async def test_dont_send_keeps_it_internal_and_edit_sends_the_modal_once(
    caseroom_http: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis
) -> None:
    cr = caseroom_http
    member = team_member(cr, sandbox)
    case, channel = await case_room(cr, sandbox, redis, member)
    _, parent = relayed_chat(cr, sandbox, case, channel)
    before = len(chats(sandbox, case["id"]))

    internal = f"Internal only {uuid.uuid4().hex[:6]}"
    await cr.driver.thread_reply(internal, user=member, channel=channel.id, thread_ts=parent.ts)
    [offer] = await ephemeral(cr, member, internal)
    skip = await cr.driver.click(Action.THREAD_SKIP, user=member, channel=channel.id,
                                 message_ts=offer.message_ts)
    assert skip.ok
    await cr.fake.journal.wait_for(lambda: cr.fake.journal.responses(skip.response_url), timeout=TIMEOUT)
    assert "stays an internal message" in cr.fake.journal.responses(skip.response_url)[-1].text
    assert len(chats(sandbox, case["id"])) == before

    text = f"Please send the invoice {uuid.uuid4().hex[:6]}"
    message, _ = await cr.driver.thread_reply(text, user=member, channel=channel.id, thread_ts=parent.ts)
    [offer] = await ephemeral(cr, member, text)
    edit = await cr.driver.click(Action.THREAD_EDIT, user=member, channel=channel.id,
                                 message_ts=offer.message_ts)
    assert edit.ok
    view = await wait_view(cr, member.id, Callback.CHAT, contains=text)
    assert view is not None
    ack = await cr.driver.submit_view(user=member, values={Block.CHAT_TEXT: text + " - reworded"})
    assert ack.ok
    await wait_result(cr, member.id, "Message sent")
    mine = [c for c in chats(sandbox, case["id"]) if text in c["message"]]
    assert [c["message"] for c in mine] == [text + " - reworded"]
    assert any(r["name"] == "white_check_mark" for r in message.reactions)
    # Send on the offer afterwards: the same reply, already sent
    send = await cr.driver.click(Action.THREAD_SEND, user=member, channel=channel.id,
                                 message_ts=offer.message_ts)
    await cr.fake.journal.wait_for(lambda: cr.fake.journal.responses(send.response_url), timeout=TIMEOUT)
    assert "Already sent" in cr.fake.journal.responses(send.response_url)[-1].text
    assert len([c for c in chats(sandbox, case["id"]) if text in c["message"]]) == 1

    # a reply deleted before Send: nothing is sent, and the person is told why
    gone = f"Deleted before sending {uuid.uuid4().hex[:6]}"
    message, _ = await cr.driver.thread_reply(gone, user=member, channel=channel.id, thread_ts=parent.ts)
    [offer] = await ephemeral(cr, member, gone)
    cr.fake.workspace.delete_message(message)
    send = await cr.driver.click(Action.THREAD_SEND, user=member, channel=channel.id,
                                 message_ts=offer.message_ts)
    await cr.fake.journal.wait_for(lambda: cr.fake.journal.responses(send.response_url), timeout=TIMEOUT)
    assert "gone from the thread" in cr.fake.journal.responses(send.response_url)[-1].text
    assert not [c for c in chats(sandbox, case["id"]) if gone in c["message"]]


async def test_who_may_not_send_is_refused_and_other_replies_are_left_alone(
    caseroom_http: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis
) -> None:
    cr = caseroom_http
    ws = cr.fake.workspace
    member = team_member(cr, sandbox)
    guest = ws.add_user("gus", guest="multi", email="gus@collector.example")
    stranger = ws.add_user("pat", team_id="T0OTHERORG", email=sandbox.user_email())
    alice = cr.user  # in Slack, but not on the Debitura team
    case, channel = await case_room(cr, sandbox, redis, member, guest, stranger, alice)
    _, parent = relayed_chat(cr, sandbox, case, channel)
    before = len(chats(sandbox, case["id"]))

    await cr.driver.thread_reply("guest answer", user=guest, channel=channel.id, thread_ts=parent.ts)
    await ephemeral(cr, guest, "Guests cannot use Caseroom")
    await cr.driver.thread_reply("partner answer", user=stranger, channel=channel.id, thread_ts=parent.ts)
    await ephemeral(cr, stranger, "Slack Connect")
    await cr.driver.thread_reply("alice answer", user=alice, channel=channel.id, thread_ts=parent.ts)
    await ephemeral(cr, alice, "does not match any member")
    for refused in (guest, stranger, alice):
        assert not [e for e in cr.fake.journal.ephemerals(user=refused.id) if "as you?" in _text(e)]

    too_long = "x" * 10_001
    await cr.driver.thread_reply(too_long, user=member, channel=channel.id, thread_ts=parent.ts)
    [offer] = await ephemeral(cr, member, "at most 10,000")
    send = await cr.driver.click(Action.THREAD_SEND, user=member, channel=channel.id,
                                 message_ts=offer.message_ts)
    await cr.fake.journal.wait_for(lambda: cr.fake.journal.responses(send.response_url), timeout=TIMEOUT)
    assert "10,000" in cr.fake.journal.responses(send.response_url)[-1].text
    edit = await cr.driver.click(Action.THREAD_EDIT, user=member, channel=channel.id,
                                 message_ts=offer.message_ts)
    assert edit.ok
    await wait_result(cr, member.id, "a Slack form holds 3,000")  # not cut silently into the form

    # left alone: another app's reply, a top-level message, a reply under a partner's chat
    await cr.driver.bot_post("webhook reply", channel=channel.id, thread_ts=parent.ts)
    await cr.driver.user_message("top-level note to self", user=member, channel=channel.id)
    _, partner_chat = relayed_chat(cr, sandbox, case, channel, role=0)
    await cr.driver.thread_reply("under a partner chat", user=member, channel=channel.id,
                                 thread_ts=partner_chat.ts)
    await settled(cr)
    offers = [e for e in cr.fake.journal.ephemerals(user=member.id) if "as you?" in _text(e)]
    assert len(offers) == 1  # only the too-long one
    assert len(chats(sandbox, case["id"])) == before + 1  # the partner chat the test added itself


async def test_the_note_reaction_makes_one_note(
    caseroom_http: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis
) -> None:
    cr = caseroom_http
    member = team_member(cr, sandbox)
    other = cr.fake.workspace.add_user("bob", email="bob@collector.example")
    guest = cr.fake.workspace.add_user("gus", guest="multi")
    case, channel = await case_room(cr, sandbox, redis, member, other, guest)
    text = f"Debtor called, will pay 200 on Monday {uuid.uuid4().hex[:6]}"
    message, _ = await cr.driver.user_message(text, user=other, channel=channel.id)

    def notes() -> list[dict[str, Any]]:
        timeline = cast(list[dict[str, Any]], sandbox_get(sandbox, f"/cases/{case['id']}/timeline")["items"])
        return [t for t in timeline if text in str(t.get("description") or "")]

    await cr.driver.react("thumbsup", user=member, channel=channel.id, ts=message.ts)
    await cr.driver.react("memo", user=guest, channel=channel.id, ts=message.ts)
    await ephemeral(cr, guest, "Guests cannot use Caseroom")
    ack = await cr.driver.react("memo", user=member, channel=channel.id, ts=message.ts)
    assert ack is not None and ack.ok
    await ephemeral(cr, member, "Note added")
    [note] = notes()
    description = str(note["description"])
    assert "Written by bob" in description
    assert f"/archives/{channel.id}/p{message.ts.replace('.', '')}" in description
    # another person's reaction, and the event delivered again: still one note
    await cr.driver.react("memo", user=other, channel=channel.id, ts=message.ts)
    await ephemeral(cr, other, "already a note")
    event = payloads.reaction_added_event(message, user=member, reaction="memo", event_ts=message.ts)
    await cr.driver.event(event, event_id="EvNOTE2")
    await ephemeral(cr, member, "already a note")
    assert len(notes()) == 1
    # the message shortcut on the same message: the form opens, and submitting it adds nothing more
    ack = await cr.driver.message_shortcut(Shortcut.NOTE_FROM_MESSAGE, user=member, channel=channel.id,
                                           message_ts=message.ts)
    assert ack.ok
    await wait_view(cr, member.id, Callback.NOTE, contains="Debtor called")
    await cr.driver.submit_view(user=member)
    await wait_result(cr, member.id, "already submitted")
    assert len(notes()) == 1


async def test_the_note_reaction_carries_a_long_message_whole_up_to_the_note_limit(
    caseroom_http: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis
) -> None:
    cr = caseroom_http
    member = team_member(cr, sandbox)
    case, channel = await case_room(cr, sandbox, redis, member)
    words = " ".join(f"r{n:04d}" for n in range(1_600))  # 9,599 characters
    message, _ = await cr.driver.user_message(words, user=member, channel=channel.id)
    await cr.driver.react("memo", user=member, channel=channel.id, ts=message.ts)
    await ephemeral(cr, member, "Note added")
    timeline = cast(list[dict[str, Any]], sandbox_get(sandbox, f"/cases/{case['id']}/timeline")["items"])
    [note] = [str(t["description"]) for t in timeline if "r0000" in str(t.get("description") or "")]
    assert note.startswith(words + "\n\n(Written by")  # whole, not cut
    longer, _ = await cr.driver.user_message("q " * 5_000, user=member, channel=channel.id)
    await cr.driver.react("memo", user=member, channel=channel.id, ts=longer.ts)
    [refusal] = await ephemeral(cr, member, "Not added as a note")
    assert "at most 10,000" in _text(refusal)


async def test_the_relay_does_not_echo_a_chat_sent_from_the_thread(
    caseroom_factory: Callable[..., Awaitable[Caseroom]], sandbox: SandboxHandle, redis: aioredis.Redis,
) -> None:
    """With the relay on: the creditor's chat is relayed, the reply to it is sent from the thread, and
    the relay's next fetch of the chats posts the next creditor chat but not ours."""
    cr = await caseroom_factory("http", relay=True, env={
        "DEBITURA_WEBHOOK_SECRET": SECRET, "CASEROOM_RELAY_SWEEP_INTERVAL": "3600",
        "CASEROOM_RELAY_FIRST_SPREAD": "1", "CASEROOM_MAX_STALENESS": "3600", "CASEROOM_RELAY_LEASE": "3",
        "CASEROOM_RATE_PER_DAY": "20000000", "CASEROOM_RATE_PER_HOUR": "1000000",
    })
    keys = Keys(cr.redis_prefix)
    member = team_member(cr, sandbox)
    case_id = sandbox.case("Active")["id"]

    async def baselined() -> bool:
        state = await hgetall(redis, keys.case_state(case_id))
        return {"chats", "timeline"} <= set((state.get("base") or "").split(","))

    await wait_until(baselined, 40, "baseline by the relay")

    async def relayed(chat_id: str) -> Message | None:
        channel_id = (await hgetall(redis, keys.case_channel(case_id))).get("id")
        if not channel_id:
            return None
        for message in cr.fake.journal.messages(channel_id, bot_only=True):
            payload = (message.metadata or {}).get("event_payload") or {}
            if payload.get("item_id") == f"chat:{chat_id}":
                return message
        return None

    async def creditor_chat(text: str, event_id: str) -> Message:
        chat = sandbox.control.add_chat(case_id, text, role=1)
        await webhook(cr, event_id, case_id, chat["id"])
        return cast(Message, await wait_until(lambda: relayed(chat["id"]), 30, f"chat {text!r} relayed"))

    parent = await creditor_chat(f"Did the debtor answer? {uuid.uuid4().hex[:6]}", f"evt-{uuid.uuid4().hex}")
    assert (parent.metadata or {})["event_payload"]["role"] == 1  # the relay stamps the chat's role
    channel = cr.fake.workspace.channels[parent.channel]
    channel.members.add(member.id)
    answer = f"Yes, paying on Friday {uuid.uuid4().hex[:6]}"
    await cr.driver.thread_reply(answer, user=member, channel=channel.id, thread_ts=parent.ts)
    [offer] = await ephemeral(cr, member, "Send this to the creditor as you?")
    send = await cr.driver.click(Action.THREAD_SEND, user=member, channel=channel.id,
                                 message_ts=offer.message_ts)
    await cr.fake.journal.wait_for(lambda: cr.fake.journal.responses(send.response_url), timeout=TIMEOUT)
    assert "Sent to the creditor at" in cr.fake.journal.responses(send.response_url)[-1].text
    [sent] = [c for c in chats(sandbox, case_id) if c["message"] == answer]

    await webhook(cr, f"evt-{uuid.uuid4().hex}", case_id, sent["id"])
    await creditor_chat(f"Thanks! {uuid.uuid4().hex[:6]}", f"evt-{uuid.uuid4().hex}")
    assert await relayed(sent["id"]) is None, "the chat sent from the thread was posted back"


async def webhook(cr: Caseroom, event_id: str, case_id: str, chat_id: str) -> None:
    body = json.dumps({"id": event_id, "event": "chat.created", "timestamp": "2026-01-01T00:00:00Z",
                       "data": {"caseId": case_id, "chatId": chat_id}}).encode()
    signature = sign(SECRET, body, int(time.time()))
    headers = {"Content-Type": "application/json", "X-Debitura-Signature": signature}
    async with aiohttp.ClientSession() as session, session.post(
        f"{cr.base_url}/debitura/webhooks", data=body, headers=headers
    ) as resp:
        assert resp.status == 200, await resp.text()


async def test_public_case_channels_work_the_same(
    caseroom_factory: Callable[..., Awaitable[Caseroom]], sandbox: SandboxHandle, redis: aioredis.Redis,
) -> None:
    """CASEROOM_PUBLIC_CHANNELS: replies arrive through message.channels (channels:history)."""
    cr = await caseroom_factory("socket", env={"CASEROOM_PUBLIC_CHANNELS": "true"})
    member = team_member(cr, sandbox)
    case, channel = await case_room(cr, sandbox, redis, member)
    assert not channel.is_private
    _, parent = relayed_chat(cr, sandbox, case, channel)
    answer = f"Public reply {uuid.uuid4().hex[:6]}"
    await cr.driver.thread_reply(answer, user=member, channel=channel.id, thread_ts=parent.ts)
    [offer] = await ephemeral(cr, member, answer)
    send = await cr.driver.click(Action.THREAD_SEND, user=member, channel=channel.id,
                                 message_ts=offer.message_ts)
    await cr.fake.journal.wait_for(lambda: cr.fake.journal.responses(send.response_url), timeout=TIMEOUT)
    assert "Sent to the creditor at" in cr.fake.journal.responses(send.response_url)[-1].text
    assert [c["message"] for c in chats(sandbox, case["id"]) if answer in c["message"]] == [answer]
