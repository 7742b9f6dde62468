"""Record / edit / delete a payment through the real process, the fake Slack and the sandbox."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import pytest
import redis.asyncio as aioredis

from blocks.ids import Block, Callback
from blocks.parse import OPTION_FOLLOW_UP
from bot.store.keys import Keys
from tests.e2e.modal_flows import audit_entries, open_by_command, sandbox_get, view_text, wait_result
from tests.fakes.slack import payloads
from tests.fixtures.e2e import Caseroom
from tests.fixtures.sandbox import SandboxHandle

pytestmark = [pytest.mark.e2e, pytest.mark.sandbox]


async def test_payment_form_errors_then_recorded(
    caseroom: Caseroom, sandbox: SandboxHandle, redis: aioredis.Redis, keys: Keys
) -> None:
    """Over HTTP and Socket Mode: the form's errors, then the payment with Debitura's warnings."""
    cr = caseroom
    case = sandbox.case("Active")
    before = len(sandbox_get(sandbox, f"/cases/{case['id']}/payments"))
    user = cr.user.id
    view = await open_by_command(cr, user, f"pay {case['reference']}", Callback.PAYMENT)
    assert case["reference"] in str(view.data)

    future = (date.today() + timedelta(days=2)).isoformat()
    ack = await cr.driver.submit_view(
        user=user, values={Block.PAY_AMOUNT: "1,5", Block.PAY_DATE: future, Block.PAY_RECIPIENT: "Creditor"}
    )
    assert ack.response_action == "errors"
    assert set(ack.errors) == {Block.PAY_AMOUNT, Block.PAY_DATE, Block.PAY_COMMISSION}
    assert "dot" in ack.errors[Block.PAY_AMOUNT]

    ack = await cr.driver.submit_view(
        user=user,
        values={
            Block.PAY_AMOUNT: "0.001",
            Block.PAY_RECIPIENT: "CollectionPartner",
            Block.PAY_PAYOUT_CREDITOR: "1",
        },
    )
    assert set(ack.errors) == {Block.PAY_AMOUNT, Block.PAY_PAYOUT_PARTNER}

    values: dict[str, object] = {
        Block.PAY_AMOUNT: "25.00",
        Block.PAY_RECIPIENT: "CollectionPartner",
        Block.PAY_PAYOUT_CREDITOR: "0",
        Block.PAY_PAYOUT_PARTNER: "25",
        Block.PAY_OPTIONS: [OPTION_FOLLOW_UP],
    }
    ack = await cr.driver.submit_view(user=user, values=values)
    assert ack.ok and ack.response_action == "update"
    result = await wait_result(cr, user, "recorded")
    assert "25.00" in view_text(result)
    assert "creditor receives nothing" in view_text(result)  # the API's warnings[] are shown
    payments = sandbox_get(sandbox, f"/cases/{case['id']}/payments")
    assert len(payments) == before + 1
    entries = await audit_entries(redis, keys.audit_stream())
    assert [(e["action"], e["user"], e["case_id"]) for e in entries] == [("payment", user, case["id"])]


async def test_double_submitted_payment_is_recorded_once(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    """Two deliveries of one submission (a double click, or Slack retrying) race: one payment."""
    cr = caseroom_http
    case = sandbox.case("Active")
    before = len(sandbox_get(sandbox, f"/cases/{case['id']}/payments"))
    user = cr.user.id
    view = await open_by_command(cr, user, f"pay {case['reference']}", Callback.PAYMENT)
    sandbox.control.add_fault("/cases/*/payments", method="POST", latency_ms=800, times=1)
    state = payloads.view_state(view, {Block.PAY_AMOUNT: "7.00", Block.PAY_RECIPIENT: "CollectionPartner"})
    who = cr.fake.workspace.users[user]
    submission = payloads.view_submission(cr.fake.workspace, user=who, view=view, state=state)
    acks = await asyncio.gather(
        cr.driver._send("interactive", submission), cr.driver._send("interactive", submission)
    )
    assert all(a.ok for a in acks)
    for ack in acks:  # Slack applies each answer's response_action (the "Sending…" view)
        cr.driver._apply_response_action(user, view, ack)

    def deliveries_with_a_result() -> set[str]:
        """external_ids of the "Sending…" views a result was sent to: one per processed delivery."""
        return {
            str(c.args.get("external_id"))
            for c in cr.fake.journal.calls("views.update")
            if "recorded" in json.dumps(c.args.get("view"))
        }

    # Both deliveries were processed to a result; only one reached Debitura; the modal shows it.
    await cr.fake.journal.wait_for(
        lambda: len(deliveries_with_a_result()) >= 2, timeout=20, what="two results"
    )
    await wait_result(cr, user, "recorded")
    assert len(sandbox_get(sandbox, f"/cases/{case['id']}/payments")) == before + 1
