"""`/case note|pay|chat|close|activate|fees|upload <ref>` through the real process: each opens its own
modal, the modal opens before anything slow (trigger_id lives 3 s), refusals show in the modal, and
the case channel stands for the case."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from blocks.ids import Block, Callback
from bot.store.keys import Keys
from tests.e2e.case_helpers import reply, run
from tests.e2e.modal_flows import open_by_command, sandbox_get, view_text, wait_result, wait_view
from tests.fakes.slack.workspace import User
from tests.fixtures.e2e import Caseroom
from tests.fixtures.sandbox import SandboxHandle

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox]

# subcommand -> (the case it needs, the modal's callback_id, words only that filled form shows)
WRITES = {
    "note": ("Active", Callback.NOTE, Block.NOTE_TEXT),
    "pay": ("Active", Callback.PAYMENT, Block.PAY_AMOUNT),
    "chat": ("Active", Callback.CHAT, Block.CHAT_TEXT),
    "close": ("Active", Callback.CLOSE, Block.CLOSE_CODE),
    "activate": ("PendingVerification", Callback.ACTIVATE, Block.ACT_WELCOME),
    "fees": ("Active", Callback.FEES, Block.FEE_INTEREST),
    "upload": ("Active", Callback.UPLOAD, Block.UPLOAD_FILE),
}


def team_member(cr: Caseroom, sandbox: SandboxHandle, name: str = "member") -> User:
    """A Slack user whose email is a Debitura team member's (chat and activate need one)."""
    ws = cr.fake.workspace
    user = ws.add_user(name, email=sandbox.user_email(), real_name="Team Member")
    ws.channels[cr.channel.id].members.add(user.id)
    return user


@pytest.mark.parametrize("kind", list(WRITES))
async def test_each_write_subcommand_opens_its_filled_modal(
    caseroom_http: Caseroom, sandbox: SandboxHandle, kind: str
) -> None:
    cr = caseroom_http
    lifecycle, callback, block = WRITES[kind]
    member = team_member(cr, sandbox)
    case = sandbox.case(lifecycle, custom_terms=False) if kind == "activate" else sandbox.case(lifecycle)
    ack = await run(cr, f"{kind} {case['reference']}", user=member.id)
    assert ack.text == ""  # no usage or error in the ack: the modal answers
    view = await wait_view(cr, member.id, callback, contains=f'"block_id": "{block}"')
    assert case["reference"] in view_text(view)
    opened = cr.fake.journal.calls("views.open", ok=True)
    assert len(opened) == 1  # one loading view, filled by views.update
    assert not cr.fake.journal.responses(ack.response_url)  # nothing else said


async def test_the_modal_opens_while_users_info_is_slow(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    """Checking an uncached user costs a users.info call; the loading view must not wait for it,
    or the 3 s trigger_id expires. Slack answers users.info after 2.5 s here."""
    cr = caseroom_http
    case = sandbox.case("Active")
    slow = cr.fake.workspace.add_user("slowpoke", email="slowpoke@agency.example")
    cr.fake.workspace.channels[cr.channel.id].members.add(slow.id)
    cr.fake.faults.add("users.info", latency=2.5, when=lambda args: args.get("user") == slow.id)
    await run(cr, f"pay {case['reference']}", user=slow.id)
    await wait_view(cr, slow.id, Callback.PAYMENT, contains=case["reference"])
    journal = cr.fake.journal
    opened = journal.calls("views.open", ok=True)
    assert len(opened) == 1
    looked_up = [c for c in journal.calls("users.info") if c.args.get("user") == slow.id]
    assert looked_up, "the user was checked (users.info), just not before views.open"
    # journal times are when each answer went out: the modal opened before the slow profile arrived
    assert opened[0].at < looked_up[0].at


async def test_a_slack_connect_user_is_refused_in_the_modal(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    cr = caseroom_http
    partner = cr.fake.workspace.add_user("pat", team_id="T0OTHERORG")
    cr.fake.workspace.channels[cr.channel.id].members.add(partner.id)
    case = sandbox.case("Active")
    before = len(sandbox_get(sandbox, f"/cases/{case['id']}/payments"))
    await run(cr, f"pay {case['reference']}", user=partner.id)
    view = await wait_result(cr, partner.id, "other organisations")
    assert "Error id" in view_text(view)
    ws = cr.fake.workspace
    assert all(ws.views[v].callback_id != Callback.PAYMENT for v in ws.view_stacks.get(partner.id, []))
    assert len(sandbox_get(sandbox, f"/cases/{case['id']}/payments")) == before


async def test_in_a_case_channel_the_write_needs_no_ref_and_is_announced_there(
    caseroom_http: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis, keys: Keys
) -> None:
    cr = caseroom_http
    case = sandbox.case("Active")
    await redis.set(keys.channel_case(cr.channel.id), case["id"])
    await redis.hset(
        keys.case_channel(case["id"]), mapping={"id": cr.channel.id, "name": cr.channel.name, "archived": "0"}
    )
    view = await open_by_command(cr, cr.user.id, "pay", Callback.PAYMENT)
    assert case["reference"] in view_text(view)
    ack = await cr.driver.submit_view(
        user=cr.user.id, values={Block.PAY_AMOUNT: "12.34", Block.PAY_RECIPIENT: "CollectionPartner"}
    )
    assert ack.ok
    await wait_result(cr, cr.user.id, "recorded")
    # the write is announced once in the case's channel, naming the person
    lines = await cr.fake.journal.wait_for(
        lambda: [
            m
            for m in cr.fake.journal.messages(cr.channel.id, bot_only=True)
            if "recorded a payment of 12.34" in m.text
        ],
        timeout=10,
        what="the audit line",
    )
    assert len(lines) == 1 and f"<@{cr.user.id}>" in lines[0].text and case["currency"] in lines[0].text


async def test_outside_a_case_channel_a_write_without_ref_asks_which_case(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    cr = caseroom_http
    before = len(cr.fake.journal.calls("views.open"))
    await run(cr, "close")
    await wait_result(cr, cr.user.id, "Which case?")
    assert len(cr.fake.journal.calls("views.open")) == before + 1
    del sandbox


async def test_an_expired_trigger_on_a_command_is_explained(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    cr = caseroom_http
    case = sandbox.case("Active")
    cr.fake.faults.add("views.open", error="expired_trigger_id", times=1)
    post = await reply(cr, await run(cr, f"pay {case['reference']}"))
    assert "took too long to open the form" in post.text and "Error id" in post.text
    assert cr.fake.workspace.top_view(cr.user.id) is None


async def test_a_slow_debitura_does_not_expire_the_trigger(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    """Debitura takes 4 s to find the case (longer than the trigger_id lives): the loading view is
    already open, and the form replaces it once the case arrives."""
    cr = caseroom_http
    case = sandbox.case("Active")
    sandbox.control.add_fault("/cases/*", method="GET", latency_ms=4000, times=1)
    try:
        await run(cr, f"pay {case['reference']}")
        opened = await cr.fake.journal.wait_for_call("views.open", timeout=10)
        assert opened.ok, opened.response
        assert "Loading the case" in json.dumps(opened.args)  # the loading view, not the form
        view = await wait_view(cr, cr.user.id, Callback.PAYMENT, contains=case["reference"])
        assert view.id == opened.response["view"]["id"]  # the same modal, filled by views.update
    finally:
        sandbox.control.clear_faults()
