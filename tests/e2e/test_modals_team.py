"""Writes in a person's name (chat, activate), uploads' form checks, and API errors shown in the modal."""

from __future__ import annotations

import pytest

from blocks.ids import Action, Block, Callback
from tests.e2e.modal_flows import open_by_command, sandbox_get, view_text, wait_result, wait_view
from tests.fakes.slack.workspace import User
from tests.fixtures.e2e import Caseroom
from tests.fixtures.sandbox import SandboxHandle

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox]


def team_member(cr: Caseroom, sandbox: SandboxHandle) -> User:
    """A Slack user whose email is a Debitura team member's."""
    ws = cr.fake.workspace
    user = ws.add_user("member", email=sandbox.user_email().upper(), real_name="Team Member")
    ws.channels[cr.channel.id].members.add(user.id)
    return user


async def test_chat_sent_as_the_team_member(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    cr = caseroom_http
    member = team_member(cr, sandbox)
    case = sandbox.case("Active")
    before = len(sandbox_get(sandbox, f"/cases/{case['id']}/chats"))
    await open_by_command(cr, member.id, f"chat {case['reference']}", Callback.CHAT)
    ack = await cr.driver.submit_view(user=member, values={Block.CHAT_TEXT: "   "})
    assert ack.response_action == "errors" and set(ack.errors) == {Block.CHAT_TEXT}
    ack = await cr.driver.submit_view(user=member, values={Block.CHAT_TEXT: "Payment plan agreed: 3 x 100"})
    assert ack.ok
    await wait_result(cr, member.id, "Message sent")
    chats = sandbox_get(sandbox, f"/cases/{case['id']}/chats")
    assert len(chats) == before + 1
    assert chats[-1]["message"] == "Payment plan agreed: 3 x 100"
    assert chats[-1]["user"]["email"].lower() == sandbox.user_email().lower()


async def test_chat_refused_without_a_debitura_account(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    cr = caseroom_http  # alice's email is not on the Debitura team
    case = sandbox.case("Active")
    before = len(sandbox_get(sandbox, f"/cases/{case['id']}/chats"))
    await cr.driver.command("/case", f"chat {case['reference']}", user=cr.user.id, channel=cr.channel.id)
    view = await wait_result(cr, cr.user.id, "does not match any member")
    assert "Nothing was sent" in view_text(view)
    assert len(sandbox_get(sandbox, f"/cases/{case['id']}/chats")) == before


async def test_activate_pending_case(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    cr = caseroom_http
    member = team_member(cr, sandbox)
    case = sandbox.case("PendingVerification", custom_terms=False)
    view = await open_by_command(cr, member.id, f"activate {case['reference']}", Callback.ACTIVATE)
    assert sandbox.user_email() in view_text(view)  # the team, from GET /users
    ack = await cr.driver.submit_view(
        user=member, values={Block.ACT_WELCOME: "Welcome", Block.ACT_REFERENCE: "r" * 129}
    )
    assert ack.response_action == "errors" and set(ack.errors) == {Block.ACT_REFERENCE}
    ack = await cr.driver.submit_view(
        user=member,
        values={
            Block.ACT_WELCOME: "We take it from here.",
            Block.ACT_REFERENCE: f"E2E-{case['reference']}",
            Block.ACT_ASSIGNEE: sandbox.user_email(),
            Block.FEE_INTEREST: "12.50",
        },
    )
    assert ack.ok
    await wait_result(cr, member.id, "is active")
    assert sandbox_get(sandbox, f"/cases/{case['id']}")["lifecycle"] == "Active"


async def test_activate_only_for_pending_cases(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    cr = caseroom_http
    member = team_member(cr, sandbox)
    case = sandbox.case("Active")
    await cr.driver.command("/case", f"activate {case['reference']}", user=member.id, channel=cr.channel.id)
    await wait_result(cr, member.id, "Only cases pending verification")


async def test_upload_form_checks_the_file(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    cr = caseroom_http
    case = sandbox.case("Active")
    await open_by_command(cr, cr.user.id, f"upload {case['reference']}", Callback.UPLOAD)
    ack = await cr.driver.submit_view(
        user=cr.user.id, values={Block.UPLOAD_FILE: [{"id": "F1", "name": "payload.exe", "size": 10}]}
    )
    assert ack.response_action == "errors" and ".pdf" in ack.errors[Block.UPLOAD_FILE]
    ack = await cr.driver.submit_view(
        user=cr.user.id,
        values={
            Block.UPLOAD_FILE: [{"id": "F1", "name": "scan.pdf", "size": 26 * 1024 * 1024}],
            Block.UPLOAD_DESCRIPTION: "d" * 501,
        },
    )
    assert set(ack.errors) == {Block.UPLOAD_FILE, Block.UPLOAD_DESCRIPTION}
    assert "25 MB" in ack.errors[Block.UPLOAD_FILE]


async def test_unknown_case_says_not_found_with_an_error_id(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    cr = caseroom_http
    # a reference Debitura does not know (or that is not assigned to us): 404
    await cr.driver.command("/case", "pay ZZZZZZZ9", user=cr.user.id, channel=cr.channel.id)
    view = await wait_result(cr, cr.user.id, "not found, or not assigned to you")
    assert "Error id" in view_text(view)
    del sandbox


async def test_rate_limited_write_says_when_to_retry(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    cr = caseroom_http
    case = sandbox.case("Active")
    before = len(sandbox_get(sandbox, f"/cases/{case['id']}/payments"))
    await open_by_command(cr, cr.user.id, f"pay {case['reference']}", Callback.PAYMENT)
    sandbox.control.add_fault("/cases/*/payments", method="POST", rate_limit_rate=1.0, retry_after=120)
    await cr.driver.submit_view(
        user=cr.user.id, values={Block.PAY_AMOUNT: "3.00", Block.PAY_RECIPIENT: "CollectionPartner"}
    )
    view = await wait_result(cr, cr.user.id, "rate limiting")
    assert "try again in" in view_text(view) and "Error id" in view_text(view)
    sandbox.control.clear_faults()
    assert len(sandbox_get(sandbox, f"/cases/{case['id']}/payments")) == before


def commission_required(view_json: str) -> bool:
    if '"block_id": "pay_commission"' not in view_json:
        return False
    block = view_json.split('"block_id": "pay_commission"')[1].split('"block_id"')[0]
    return '"optional": false' in block


async def test_payment_amount_typed_offers_close(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    """dispatch_action on amount and recipient: "close the case" appears once the amount settles the
    balance; the commission becomes required for the creditor; keystrokes that change nothing cost no
    views.update."""
    cr = caseroom_http
    user = cr.user.id
    case = sandbox.case("Active")
    remainder = sandbox_get(sandbox, f"/cases/{case['id']}")["remainder"]
    view = await open_by_command(cr, user, f"pay {case['reference']}", Callback.PAYMENT)
    assert "Close the case" not in view_text(view)
    updates_at_open = len(cr.fake.journal.calls("views.update"))
    ack = await cr.driver.click(Action.PAYMENT_AMOUNT_CHANGED, user=user, view_id=view.id, selected="1.00")
    assert ack.ok
    ack = await cr.driver.click(
        Action.PAYMENT_AMOUNT_CHANGED, user=user, view_id=view.id, selected=f"{remainder:.2f}"
    )
    assert ack.ok
    settled = await wait_view(cr, user, Callback.PAYMENT, contains="Close the case")
    assert case["reference"] in view_text(settled)
    await cr.driver.click(Action.RECIPIENT_CHANGED, user=user, view_id=view.id, selected="Creditor")

    def required() -> bool:
        top = cr.fake.workspace.top_view(user)
        return top is not None and commission_required(view_text(top))

    await cr.fake.journal.wait_for(required, timeout=10, what="the commission made required")
    assert len(cr.fake.journal.calls("views.update")) == updates_at_open + 2
