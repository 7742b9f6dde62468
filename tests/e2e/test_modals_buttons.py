"""The card's write buttons open their modal (loading view first, then the form) through the real process."""

from __future__ import annotations

import pytest

from blocks.ids import Action, Callback
from blocks.metadata import CaseRef
from tests.e2e.modal_flows import sandbox_get, view_text, wait_result, wait_view
from tests.fixtures.e2e import Caseroom
from tests.fixtures.sandbox import SandboxHandle

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox]

BUTTONS = [
    (Action.OPEN_NOTE, Callback.NOTE, "Active"),
    (Action.OPEN_PAYMENT, Callback.PAYMENT, "Active"),
    (Action.OPEN_CHAT, Callback.CHAT, "Active"),
    (Action.OPEN_UPLOAD, Callback.UPLOAD, "Active"),
    (Action.OPEN_CLOSE, Callback.CLOSE, "Active"),
    (Action.OPEN_ACTIVATE, Callback.ACTIVATE, "PendingVerification"),
    (Action.OPEN_FEES, Callback.FEES, "Paused"),
]


async def click_card_button(cr: Caseroom, user_id: str, action: Action, value: str) -> None:
    ws = cr.fake.workspace
    blocks = [
        {
            "type": "actions",
            "block_id": "card_writes",
            "elements": [
                {
                    "type": "button",
                    "action_id": action,
                    "value": value,
                    "text": {"type": "plain_text", "text": "Go"},
                }
            ],
        }
    ]
    message = ws.add_bot_message(
        ws.channels[cr.channel.id],
        text="card",
        blocks=blocks,
        attachments=None,
        thread_ts=None,
        metadata=None,
    )
    ack = await cr.driver.click(action, user=user_id, channel=cr.channel.id, message_ts=message.ts)
    assert ack.ok


async def test_every_card_button_opens_its_form(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    cr = caseroom_http
    ws = cr.fake.workspace
    member = ws.add_user("member", email=sandbox.user_email(), real_name="Team Member")
    ws.channels[cr.channel.id].members.add(member.id)
    for action, callback, lifecycle in BUTTONS:
        case = (
            sandbox.case(lifecycle, custom_terms=False)
            if lifecycle == "PendingVerification"
            else sandbox.case(lifecycle)
        )
        value = CaseRef(id=case["id"], ref=case["reference"], ch=cr.channel.id).encode_value()
        await click_card_button(cr, member.id, action, value)
        view = await wait_view(cr, member.id, callback)
        assert case["reference"] in view_text(view), action
        ws.clear_views(member.id)
    opened = [c for c in cr.fake.journal.calls("views.open") if c.ok]
    assert len(opened) == len(BUTTONS)
    # each opened as a loading view, filled by views.update
    assert all("Loading" in str(c.args.get("view")) for c in opened)


async def test_a_stale_button_says_so(caseroom_http: Caseroom) -> None:
    cr = caseroom_http
    await click_card_button(cr, cr.user.id, Action.OPEN_PAYMENT, "not-json")
    await wait_result(cr, cr.user.id, "older message")


@pytest.mark.parametrize(("who", "words"), [("guest", "Guests cannot"), ("connect", "other organisations")])
async def test_guests_and_slack_connect_users_are_refused(
    caseroom_http: Caseroom, sandbox: SandboxHandle, who: str, words: str
) -> None:
    cr = caseroom_http
    ws = cr.fake.workspace
    user = (
        ws.add_user("guest", guest="multi") if who == "guest" else ws.add_user("partner", team_id="T0OTHER")
    )
    ws.channels[cr.channel.id].members.add(user.id)
    case = sandbox.case("Active")
    before = len(sandbox_get(sandbox, f"/cases/{case['id']}/payments"))
    value = CaseRef(id=case["id"], ref=case["reference"], ch=cr.channel.id).encode_value()
    await click_card_button(cr, user.id, Action.OPEN_PAYMENT, value)
    view = await wait_result(cr, user.id, words)
    assert "Error id" in view_text(view)
    assert len(sandbox_get(sandbox, f"/cases/{case['id']}/payments")) == before


async def test_an_expired_trigger_is_explained_on_the_response_url(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    cr = caseroom_http
    case = sandbox.case("Active")
    cr.fake.faults.add("views.open", error="expired_trigger_id")
    value = CaseRef(id=case["id"], ref=case["reference"], ch=cr.channel.id).encode_value()
    await click_card_button(cr, cr.user.id, Action.OPEN_NOTE, value)
    posts = await cr.fake.journal.wait_for(
        lambda: [p for p in cr.fake.journal.responses() if "took too long to open the form" in p.text],
        timeout=10,
        what="the explanation on the response_url",
    )
    assert posts[0].ephemeral and "Error id" in posts[0].text
    assert cr.fake.workspace.top_view(cr.user.id) is None
