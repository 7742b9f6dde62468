"""`/case note <ref> <text>` (a direct, audited write), `/case follow|unfollow`, the case channel as
implicit ref, and the write subcommands opening their modal, through the real process."""

from __future__ import annotations

import json
from typing import cast

import pytest
import redis.asyncio as aioredis

from bot.store.keys import Keys
from tests.e2e.case_helpers import mrkdwn, reply, run
from tests.fixtures.e2e import Caseroom
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.e2e


def _timeline(sandbox: SandboxHandle, case_id: str) -> list[dict[str, object]]:
    with sandbox.client() as http:
        resp = http.get(f"/cases/{case_id}/timeline")
        resp.raise_for_status()
        items: list[dict[str, object]] = resp.json()["items"]
        return items


async def test_note_with_text_is_added_and_audited(
    caseroom_http: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis
) -> None:
    case = sandbox.case("Active")
    text = "Called the debtor <Mr. Berg> & agreed on Friday"
    post = await reply(caseroom_http, await run(caseroom_http, f"note {case['reference']} {text}"))
    assert f"Note added to *{case['reference']}*" in post.text
    assert any(item.get("description") == text for item in _timeline(sandbox, case["id"]))
    keys = Keys(caseroom_http.redis_prefix)
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange(keys.audit_stream()))
    assert len(entries) == 1
    fields = entries[0][1]
    assert fields["user"] == caseroom_http.user.id and fields["action"] == "note"
    assert fields["case_id"] == case["id"] and fields["case_reference"] == case["reference"]
    assert json.loads(fields["summary"])["chars"] == len(text)


async def test_note_on_an_unknown_case_writes_nothing(caseroom_http: Caseroom, redis: aioredis.Redis) -> None:
    post = await reply(caseroom_http, await run(caseroom_http, "note ZZZZ9999 hello"))
    assert "not found, or not assigned to you" in post.text
    assert await redis.xlen(Keys(caseroom_http.redis_prefix).audit_stream()) == 0


async def test_follow_creates_the_channel_adds_the_user_and_the_channel_stands_for_the_case(
    caseroom_http: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis
) -> None:
    case = sandbox.case("Active")
    keys = Keys(caseroom_http.redis_prefix)
    user = caseroom_http.user.id
    post = await reply(caseroom_http, await run(caseroom_http, f"follow {case['reference']}"))
    assert "Created <#" in post.text and "you are in it" in post.text
    channel_id = cast(str | None, await redis.hget(keys.case_channel(case["id"]), "id")) or ""
    assert channel_id and f"<#{channel_id}>" in post.text
    channel = caseroom_http.fake.workspace.channels[channel_id]
    assert user in channel.members
    assert await redis.sismember(keys.followed(), case["id"])

    # following again reuses the channel
    again = await reply(caseroom_http, await run(caseroom_http, f"follow {case['reference']}"))
    assert f"Opened <#{channel_id}>" in again.text

    # inside the case channel the ref may be left out
    card = await reply(caseroom_http, await run(caseroom_http, "timeline", channel=channel_id))
    assert f"Timeline · {case['reference']}" in mrkdwn(card.body)
    note = "Left a voicemail"
    done = await reply(caseroom_http, await run(caseroom_http, f"note {note}", channel=channel_id))
    assert "Note added" in done.text
    assert any(item.get("description") == note for item in _timeline(sandbox, case["id"]))
    # an 8-letter first word is taken for a reference; in a case channel it falls back to text
    worded = await reply(caseroom_http,
                         await run(caseroom_http, "note Answered the phone", channel=channel_id))
    assert "Note added" in worded.text
    assert any(item.get("description") == "Answered the phone" for item in _timeline(sandbox, case["id"]))
    elsewhere = await reply(caseroom_http, await run(caseroom_http, "note Answered the phone"))
    assert "not found, or not assigned to you" in elsewhere.text
    journal = caseroom_http.fake.journal
    lines = await journal.wait_for(
        lambda: [m.text for m in journal.messages(channel_id, bot_only=True) if "added a note" in m.text]
        or None,
        timeout=10, what="the audit line in the case channel")
    assert lines == [f"<@{user}> added a note on {case['reference']}."] * 2

    bye = await reply(caseroom_http, await run(caseroom_http, "unfollow", channel=channel_id))
    assert "Stopped relaying" in bye.text
    assert not await redis.sismember(keys.followed(), case["id"])
    assert await redis.sismember(keys.unfollowed(), case["id"])


async def test_write_subcommands_open_their_modal(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active")
    journal = caseroom_http.fake.journal
    ack = await run(caseroom_http, f"pay {case['reference']}")
    call = await journal.wait_for_call("views.open", timeout=10)
    assert call.ok, call.response
    assert ack.text == ""
    view = journal.view_for(caseroom_http.user.id)
    assert view is not None and view["type"] == "modal"


async def test_a_guest_cannot_open_a_write_modal(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    """The loading modal opens at once (trigger_id), then shows the refusal instead of the form."""
    from blocks.ids import Callback
    from tests.e2e.modal_flows import wait_result

    case = sandbox.case("Active")
    before = len(sandbox_payments(sandbox, case["id"]))
    guest = caseroom_http.fake.workspace.add_user("gale", guest="single")
    await run(caseroom_http, f"pay {case['reference']}", user=guest.id)
    await wait_result(caseroom_http, guest.id, "Guests cannot use Caseroom")
    ws = caseroom_http.fake.workspace
    assert all(ws.views[v].callback_id != Callback.PAYMENT for v in ws.view_stacks.get(guest.id, []))
    assert not caseroom_http.fake.journal.responses()  # no ephemeral reply besides the modal
    assert len(sandbox_payments(sandbox, case["id"])) == before


def sandbox_payments(sandbox: SandboxHandle, case_id: str) -> list[dict[str, object]]:
    with sandbox.client() as http:
        resp = http.get(f"/cases/{case_id}/payments")
        resp.raise_for_status()
        payments: list[dict[str, object]] = resp.json()
        return payments


async def test_the_follow_button_on_the_card(
    caseroom_http: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis
) -> None:
    from blocks.ids import Action
    from tests.e2e.case_helpers import click, render

    case = sandbox.case("Paused")
    card = render(caseroom_http, await reply(caseroom_http, await run(caseroom_http, case["reference"])))
    post = await reply(caseroom_http, await click(caseroom_http, card, Action.FOLLOW))
    assert "Created <#" in post.text and post.ephemeral
    keys = Keys(caseroom_http.redis_prefix)
    channel_id = cast(str | None, await redis.hget(keys.case_channel(case["id"]), "id")) or ""
    assert channel_id and caseroom_http.user.id in caseroom_http.fake.workspace.channels[channel_id].members
    assert await redis.sismember(keys.followed(), case["id"])
