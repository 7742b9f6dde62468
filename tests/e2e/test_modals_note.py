"""Notes through the real process: the note modal, and the "Add to case as note" message shortcut."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import redis.asyncio as aioredis

from blocks.ids import Block, Callback, Shortcut
from bot.store.keys import Keys
from tests.e2e.modal_flows import (
    audit_entries,
    open_by_command,
    sandbox_get,
    view_text,
    wait_result,
    wait_view,
)
from tests.fixtures.e2e import Caseroom
from tests.fixtures.sandbox import SandboxHandle

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox]


def timeline_texts(sandbox: SandboxHandle, case_id: str) -> list[str]:
    return [i.get("description") or "" for i in sandbox_get(sandbox, f"/cases/{case_id}/timeline")["items"]]


async def test_note_modal_refuses_a_future_date_then_adds(
    caseroom_http: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis, keys: Keys
) -> None:
    cr = caseroom_http
    case = sandbox.case("Active")
    user = cr.user.id
    view = await open_by_command(cr, user, f"note {case['reference']}", Callback.NOTE)
    assert "3,000" in view_text(view)

    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    ack = await cr.driver.submit_view(
        user=user, values={Block.NOTE_TEXT: "Promised to pay", Block.NOTE_DATE: tomorrow}
    )
    assert ack.response_action == "errors" and set(ack.errors) == {Block.NOTE_DATE}

    yesterday = (date.today() - timedelta(days=1)).isoformat()
    ack = await cr.driver.submit_view(
        user=user,
        values={Block.NOTE_TEXT: "Promised to pay", Block.NOTE_DATE: yesterday, Block.NOTE_TIME: "09:30"},
    )
    assert ack.ok and ack.response_action == "update"
    await wait_result(cr, user, "Note added")
    assert "Promised to pay" in timeline_texts(sandbox, case["id"])
    entries = await audit_entries(redis, keys.audit_stream())
    assert [e["action"] for e in entries] == ["note"]


async def test_shortcut_in_a_case_channel_fills_the_note(
    caseroom_http: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis, keys: Keys
) -> None:
    cr = caseroom_http
    case = sandbox.case("Active")
    user = cr.user.id
    await redis.set(keys.channel_case(cr.channel.id), case["id"])
    await redis.hset(
        keys.case_channel(case["id"]), mapping={"id": cr.channel.id, "name": cr.channel.name, "archived": "0"}
    )
    message = cr.fake.workspace.post_as_user(cr.channel.id, user, "Debtor called: pays <b>Friday</b> & more")
    ack = await cr.driver.message_shortcut(
        Shortcut.NOTE_FROM_MESSAGE, user=user, channel=cr.channel.id, message_ts=message.ts
    )
    assert ack.ok
    view = await wait_view(cr, user, Callback.NOTE, contains="pays <b>Friday</b>")
    assert "From Slack: http" in view_text(view)  # the permalink

    await cr.driver.submit_view(user=user)  # submits the prefilled text as it is
    await wait_result(cr, user, "Note added")
    texts = timeline_texts(sandbox, case["id"])
    assert any(t.startswith("Debtor called: pays <b>Friday</b> & more") and "From Slack" in t for t in texts)
    # the write is announced in the case's channel
    line = await cr.fake.journal.wait_for(
        lambda: [
            m for m in cr.fake.journal.messages(cr.channel.id, bot_only=True) if "added a note" in m.text
        ],
        timeout=10,
        what="the audit line",
    )
    assert f"<@{user}>" in line[0].text


async def test_shortcut_outside_a_case_channel_asks_for_the_case(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    cr = caseroom_http
    case = sandbox.case("Active")
    user = cr.user.id
    message = cr.fake.workspace.post_as_user(cr.channel.id, user, "Remember to chase")
    await cr.driver.message_shortcut(
        Shortcut.NOTE_FROM_MESSAGE, user=user, channel=cr.channel.id, message_ts=message.ts
    )
    await wait_view(cr, user, Callback.PICK_CASE, contains="Remember to chase")

    ack = await cr.driver.submit_view(user=user, values={Block.PICK_CASE: "not a ref"})
    assert ack.response_action == "errors" and set(ack.errors) == {Block.PICK_CASE}
    ack = await cr.driver.submit_view(user=user, values={Block.PICK_CASE: "ZZZZZZZ9"})
    assert ack.response_action == "errors" and "No case" in ack.errors[Block.PICK_CASE]

    ack = await cr.driver.submit_view(user=user, values={Block.PICK_CASE: case["reference"]})
    assert ack.ok and ack.response_action == "update"
    await wait_result(cr, user, "Note added")
    assert any(t.startswith("Remember to chase") for t in timeline_texts(sandbox, case["id"]))


async def test_note_without_an_answer_is_checked_against_the_timeline(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    """Notes have no idempotency key: when Debitura does not answer, the timeline tells what happened."""
    cr = caseroom_http
    case = sandbox.case("Active")
    user = cr.user.id
    await open_by_command(cr, user, f"note {case['reference']}", Callback.NOTE)
    sandbox.control.add_fault("/cases/*/notes", method="POST", error_rate=1.0, times=1)
    await cr.driver.submit_view(user=user, values={Block.NOTE_TEXT: "Lost in transit"})
    view = await wait_result(cr, user, "not in the timeline")
    assert "most likely not saved" in view_text(view)
    assert "Lost in transit" not in timeline_texts(sandbox, case["id"])


async def test_shortcut_opens_at_once_while_users_info_is_slow(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    """The shortcut's trigger_id lives 3 s too: the loading view opens before the user is checked."""
    cr = caseroom_http
    ws = cr.fake.workspace
    slow = ws.add_user("slowpoke", email="slowpoke@agency.example")
    ws.channels[cr.channel.id].members.add(slow.id)
    message = ws.post_as_user(cr.channel.id, slow.id, "Debtor asked for a copy of the invoice")
    cr.fake.faults.add("users.info", latency=2.5, when=lambda args: args.get("user") == slow.id)
    ack = await cr.driver.message_shortcut(
        Shortcut.NOTE_FROM_MESSAGE, user=slow.id, channel=cr.channel.id, message_ts=message.ts
    )
    assert ack.ok
    await wait_view(cr, slow.id, Callback.PICK_CASE, contains="copy of the invoice")
    opened = cr.fake.journal.calls("views.open", ok=True)
    looked_up = [c for c in cr.fake.journal.calls("users.info") if c.args.get("user") == slow.id]
    assert len(opened) == 1 and looked_up
    assert opened[0].at < looked_up[0].at
    del sandbox
