"""Admin-only writes through the real process: close, fees (price-change gate), payment edit/delete
(409 reopen, 422 frozen), and the refusal of a non-admin and of a guest."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from blocks.ids import Action, Block, Callback
from blocks.metadata import PaymentRef
from blocks.parse import OPTION_REOPEN
from tests.e2e.modal_flows import open_by_command, sandbox_get, view_text, wait_result, wait_view
from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.workspace import User
from tests.fixtures.e2e import Caseroom, Factory
from tests.fixtures.sandbox import SandboxHandle

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox]


@pytest.fixture
async def admin_setup(fake_slack: FakeSlack, caseroom_factory: Factory) -> tuple[Caseroom, User]:
    """A caseroom whose only admin is `boss`; the seeded `alice` is not an admin."""
    boss = fake_slack.workspace.add_user("boss", email="boss@collector.example")
    cr = await caseroom_factory("http", env={"CASEROOM_ADMIN_USERS": boss.id})
    fake_slack.workspace.channels[cr.channel.id].members.add(boss.id)
    return cr, boss


async def click_payment_button(
    cr: Caseroom, user: User, action: Action, case: dict[str, Any], payment_id: str
) -> None:
    """A payments-view message with Edit / Delete for one payment, clicked by `user`."""
    value = PaymentRef(id=case["id"], ref=case["reference"], pid=payment_id).encode_value()
    blocks = [
        {
            "type": "actions",
            "block_id": "pay_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": Action.EDIT_PAYMENT,
                    "value": value,
                    "text": {"type": "plain_text", "text": "Edit"},
                },
                {
                    "type": "button",
                    "action_id": Action.DELETE_PAYMENT,
                    "value": value,
                    "text": {"type": "plain_text", "text": "Delete"},
                },
            ],
        }
    ]
    ws = cr.fake.workspace
    message = ws.add_bot_message(
        ws.channels[cr.channel.id],
        text="Payments",
        blocks=blocks,
        attachments=None,
        thread_ts=None,
        metadata=None,
    )
    ack = await cr.driver.click(action, user=user, channel=cr.channel.id, message_ts=message.ts)
    assert ack.ok


async def test_close_refused_for_a_non_admin(
    admin_setup: tuple[Caseroom, User], sandbox: SandboxHandle
) -> None:
    cr, _ = admin_setup
    case = sandbox.case("Active")
    await cr.driver.command("/case", f"close {case['reference']}", user=cr.user.id, channel=cr.channel.id)
    view = await wait_result(cr, cr.user.id, "Only Caseroom admins")
    assert "Error id" in view_text(view)
    assert sandbox_get(sandbox, f"/cases/{case['id']}")["lifecycle"] != "Closed"


async def test_close_checks_the_form_then_closes(
    admin_setup: tuple[Caseroom, User], sandbox: SandboxHandle
) -> None:
    cr, boss = admin_setup
    case = sandbox.case("Active", with_payments=False)
    await open_by_command(cr, boss.id, f"close {case['reference']}", Callback.CLOSE)
    ack = await cr.driver.submit_view(user=boss, values={Block.CLOSE_CODE: "Other"})
    assert ack.response_action == "errors" and set(ack.errors) == {Block.CLOSE_COMMENT}
    ack = await cr.driver.submit_view(user=boss, values={Block.CLOSE_CODE: "Paid"})
    assert ack.response_action == "errors" and "No payment" in ack.errors[Block.CLOSE_CODE]
    ack = await cr.driver.submit_view(
        user=boss, values={Block.CLOSE_CODE: "Other", Block.CLOSE_COMMENT: "Debtor moved abroad"}
    )
    assert ack.ok
    await wait_result(cr, boss.id, "is closed")
    assert sandbox_get(sandbox, f"/cases/{case['id']}")["lifecycle"] == "Closed"


async def test_fees_price_change_is_confirmed(
    admin_setup: tuple[Caseroom, User], sandbox: SandboxHandle
) -> None:
    cr, boss = admin_setup
    case = sandbox.case("Active", intentional_rate=False)
    view = await open_by_command(cr, boss.id, f"fees {case['reference']}", Callback.FEES)
    principal = Decimal(str(sandbox_get(sandbox, f"/cases/{case['id']}")["grossAmount"]))
    assert f"{principal:.2f}" in view_text(view)  # prefilled with today's values
    ack = await cr.driver.submit_view(user=boss, values={Block.FEE_PRINCIPAL: "1,000"})
    assert ack.response_action == "errors" and set(ack.errors) == {Block.FEE_PRINCIPAL}
    new_principal = f"{principal * 20:.2f}"
    ack = await cr.driver.submit_view(
        user=boss, values={Block.FEE_PRINCIPAL: new_principal, Block.FEE_COLLECTION: "15"}
    )
    assert ack.ok
    confirm = await wait_view(cr, boss.id, Callback.FEES_CONFIRM)
    assert "Success fee now" in view_text(confirm)
    assert (
        Decimal(str(sandbox_get(sandbox, f"/cases/{case['id']}")["grossAmount"])) == principal
    )  # not applied
    ack = await cr.driver.submit_view(user=boss)
    assert ack.ok
    await wait_result(cr, boss.id, "updated")
    fresh = sandbox_get(sandbox, f"/cases/{case['id']}")
    assert f"{Decimal(str(fresh['grossAmount'])):.2f}" == new_principal
    assert Decimal(str(fresh["collectionFees"])) == Decimal(15)


async def test_delete_payment_409_offers_to_reopen(
    admin_setup: tuple[Caseroom, User], sandbox: SandboxHandle
) -> None:
    cr, boss = admin_setup
    case = sandbox.case("Closed", close_code="Paid", with_payments=True, invoiced=False)
    payment_id = case["paymentIds"][0]
    await click_payment_button(cr, boss, Action.DELETE_PAYMENT, case, payment_id)
    await wait_view(cr, boss.id, Callback.PAYMENT_DELETE, contains="Delete the payment")
    ack = await cr.driver.submit_view(user=boss)
    assert ack.ok
    await wait_view(cr, boss.id, Callback.PAYMENT_DELETE, contains="Reopen the case")
    ack = await cr.driver.submit_view(user=boss)  # not ticked
    assert ack.response_action == "errors" and set(ack.errors) == {Block.PAY_REOPEN}
    ack = await cr.driver.submit_view(user=boss, values={Block.PAY_REOPEN: [OPTION_REOPEN]})
    assert ack.ok
    await wait_result(cr, boss.id, "deleted")
    assert payment_id not in [p["id"] for p in sandbox_get(sandbox, f"/cases/{case['id']}/payments")]
    assert sandbox_get(sandbox, f"/cases/{case['id']}")["lifecycle"] == "Active"


async def test_edit_payment_confirm_then_409_reopen(
    admin_setup: tuple[Caseroom, User], sandbox: SandboxHandle
) -> None:
    cr, boss = admin_setup
    case = sandbox.case("Closed", close_code="Paid", with_payments=True, invoiced=False)
    payment = next(
        p
        for p in sandbox_get(sandbox, f"/cases/{case['id']}/payments")
        if p["id"] not in case["invoicedPaymentIds"]
    )
    lower = f"{Decimal(str(payment['grossAmount'])) - Decimal('1.00'):.2f}"
    await click_payment_button(cr, boss, Action.EDIT_PAYMENT, case, payment["id"])
    await wait_view(cr, boss.id, Callback.PAYMENT_EDIT, contains="Changing the payment")
    ack = await cr.driver.submit_view(
        user=boss, values={Block.PAY_AMOUNT: lower, Block.PAY_RECIPIENT: "CollectionPartner"}
    )
    assert ack.ok and ack.response_action == "update"  # the confirmation step
    await wait_view(cr, boss.id, Callback.PAYMENT_EDIT, contains="Before:")
    await cr.driver.submit_view(user=boss)
    await wait_view(cr, boss.id, Callback.PAYMENT_EDIT, contains="Reopen the case")
    await cr.driver.submit_view(user=boss, values={Block.PAY_REOPEN: [OPTION_REOPEN]})
    await wait_result(cr, boss.id, "changed to")
    fresh = next(p for p in sandbox_get(sandbox, f"/cases/{case['id']}/payments") if p["id"] == payment["id"])
    assert f"{Decimal(str(fresh['grossAmount'])):.2f}" == lower


async def test_invoiced_payment_cannot_be_deleted(
    admin_setup: tuple[Caseroom, User], sandbox: SandboxHandle
) -> None:
    cr, boss = admin_setup
    case = sandbox.case(None, invoiced=True)
    payment_id = case["invoicedPaymentIds"][0]
    await click_payment_button(cr, boss, Action.DELETE_PAYMENT, case, payment_id)
    await wait_view(cr, boss.id, Callback.PAYMENT_DELETE)
    await cr.driver.submit_view(user=boss)
    await wait_result(cr, boss.id, "invoiced")
    assert payment_id in [p["id"] for p in sandbox_get(sandbox, f"/cases/{case['id']}/payments")]


async def test_non_admin_cannot_open_payment_edit(
    admin_setup: tuple[Caseroom, User], sandbox: SandboxHandle
) -> None:
    cr, _ = admin_setup
    alice = cr.fake.workspace.users[cr.user.id]
    case = sandbox.case("Active", with_payments=True)
    await click_payment_button(cr, alice, Action.EDIT_PAYMENT, case, case["paymentIds"][0])
    await wait_result(cr, alice.id, "Only Caseroom admins can edit payments")


async def test_guest_is_refused_every_write(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    cr = caseroom_http
    guest = cr.fake.workspace.add_user("guest", guest="multi")
    cr.fake.workspace.channels[cr.channel.id].members.add(guest.id)
    case = sandbox.case("Active")
    await cr.driver.command("/case", f"pay {case['reference']}", user=guest.id, channel=cr.channel.id)
    # The modal opens first (the trigger_id cannot wait for users.info) and shows the refusal.
    await wait_result(cr, guest.id, "Guests cannot")
    ws = cr.fake.workspace
    assert all(ws.views[v].callback_id != Callback.PAYMENT for v in ws.view_stacks.get(guest.id, []))


async def test_closing_the_delete_confirmation_changes_nothing(
    admin_setup: tuple[Caseroom, User], sandbox: SandboxHandle
) -> None:
    cr, boss = admin_setup
    case = sandbox.case("Active", with_payments=True)
    payment_id = case["paymentIds"][0]
    await click_payment_button(cr, boss, Action.DELETE_PAYMENT, case, payment_id)
    await wait_view(cr, boss.id, Callback.PAYMENT_DELETE, contains="Delete the payment")
    ack = await cr.driver.close_view(user=boss)
    assert ack is not None and ack.ok  # view_closed is acked
    assert payment_id in [p["id"] for p in sandbox_get(sandbox, f"/cases/{case['id']}/payments")]


@pytest.mark.parametrize(("kind", "words"), [("activate", "activate cases"), ("fees", "change a case's")])
async def test_activate_and_fees_refused_for_a_non_admin(
    admin_setup: tuple[Caseroom, User], sandbox: SandboxHandle, kind: str, words: str
) -> None:
    cr, _ = admin_setup
    case = sandbox.case("PendingVerification") if kind == "activate" else sandbox.case("Active")
    before = sandbox_get(sandbox, f"/cases/{case['id']}")
    await cr.driver.command("/case", f"{kind} {case['reference']}", user=cr.user.id, channel=cr.channel.id)
    view = await wait_result(cr, cr.user.id, f"Only Caseroom admins can {words}")
    assert "Error id" in view_text(view)
    after = sandbox_get(sandbox, f"/cases/{case['id']}")
    assert (after["lifecycle"], after["grossAmount"]) == (before["lifecycle"], before["grossAmount"])


async def test_members_of_the_admin_group_are_admins(
    fake_slack: FakeSlack, caseroom_factory: Factory, sandbox: SandboxHandle
) -> None:
    """CASEROOM_ADMIN_GROUP: its members may close; everyone else is refused."""
    ws = fake_slack.workspace
    lead = ws.add_user("lead", email="lead@collector.example")
    group = ws.add_group("collections-leads", [lead.id])
    cr = await caseroom_factory("http", env={"CASEROOM_ADMIN_GROUP": group.id})
    ws.channels[cr.channel.id].members.add(lead.id)
    case = sandbox.case("Active")
    await cr.driver.command("/case", f"close {case['reference']}", user=cr.user.id, channel=cr.channel.id)
    await wait_result(cr, cr.user.id, "Only Caseroom admins can close cases")
    view = await open_by_command(cr, lead.id, f"close {case['reference']}", Callback.CLOSE)
    assert case["reference"] in view_text(view)


async def test_close_shows_debituras_answer_when_it_still_refuses(
    admin_setup: tuple[Caseroom, User], sandbox: SandboxHandle
) -> None:
    """Someone closed the case after the form opened: Debitura refuses, and its words reach the person."""
    cr, boss = admin_setup
    case = sandbox.case("Active")
    await open_by_command(cr, boss.id, f"close {case['reference']}", Callback.CLOSE)
    sandbox.control.set_lifecycle(case["id"], "Closed", close_code="Other", comment="closed elsewhere")
    ack = await cr.driver.submit_view(
        user=boss, values={Block.CLOSE_CODE: "Other", Block.CLOSE_COMMENT: "Debtor moved abroad"}
    )
    assert ack.ok and ack.response_action != "errors"
    view = await wait_result(cr, boss.id, "already closed")
    assert "Error id" in view_text(view)
    timeline = sandbox_get(sandbox, f"/cases/{case['id']}/timeline")["items"]
    assert not any("Debtor moved abroad" in json.dumps(item) for item in timeline)


async def test_fees_on_an_intentional_rate_keep_it(
    admin_setup: tuple[Caseroom, User], sandbox: SandboxHandle
) -> None:
    """An intentionally set success fee: the confirmation says it is kept, and the resend carries
    keepIntentionalRate (Debitura refuses confirmPriceChange there)."""
    cr, boss = admin_setup
    case = sandbox.case("Active", intentional_rate=True)
    before = sandbox_get(sandbox, f"/cases/{case['id']}")
    await open_by_command(cr, boss.id, f"fees {case['reference']}", Callback.FEES)
    new_principal = f"{Decimal(str(before['grossAmount'])) * 20:.2f}"
    ack = await cr.driver.submit_view(user=boss, values={Block.FEE_PRINCIPAL: new_principal})
    assert ack.ok
    confirm = await wait_view(cr, boss.id, Callback.FEES_CONFIRM)
    assert "intentionally set rate" in view_text(confirm)
    assert sandbox_get(sandbox, f"/cases/{case['id']}")["grossAmount"] == before["grossAmount"]
    ack = await cr.driver.submit_view(user=boss)
    assert ack.ok
    await wait_result(cr, boss.id, "updated")
    fresh = sandbox_get(sandbox, f"/cases/{case['id']}")
    assert f"{Decimal(str(fresh['grossAmount'])):.2f}" == new_principal
    assert fresh["preLegalSuccessFee"] == before["preLegalSuccessFee"]  # the intentional rate is kept
