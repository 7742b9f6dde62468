"""Write use cases against the Debitura sandbox: payments (idempotency, 409 reopen, 422 frozen),
close, fees (price-change gate), notes, chats, activation, and unknown outcomes resolved by re-reading."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from slack_sdk.web.async_client import AsyncWebClient

from blocks.parse import (
    ActivateForm,
    ChatForm,
    CloseForm,
    CommissionStatus,
    FeesForm,
    NoteForm,
    PaymentEditForm,
    PaymentForm,
    Recipient,
)
from bot.debitura.client import DebituraClient
from bot.debitura.errors import BadRequest
from bot.debitura.models import Lifecycle, PriceChangeRequired
from bot.debitura.ratelimit import UnlimitedLimiter
from bot.metrics import Metrics
from bot.runtime import Runtime
from bot.services import activation, audit, chats, closing, fees, notes, payments
from bot.services.writes import WriteResult, derive_key
from bot.store.keys import Keys
from tests.fixtures.sandbox import SandboxHandle
from tests.services.helpers import make_settings

pytestmark = pytest.mark.sandbox

TODAY = date.today()


class TimeoutAfterSending(httpx.AsyncBaseTransport):
    """Forwards every request; for `method path-suffix` it lets Debitura apply it, then times out."""

    def __init__(self, method: str, suffix: str) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.method = method
        self.suffix = suffix

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == self.method and request.url.path.endswith(self.suffix):
            await response.aread()
            raise httpx.ReadTimeout("injected: the answer never arrived", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def build_runtime(
    sandbox: SandboxHandle,
    redis: aioredis.Redis,
    keys: Keys,
    slack: AsyncWebClient,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Runtime:
    client = DebituraClient(
        sandbox.url, sandbox.api_key, limiter=UnlimitedLimiter(), max_retries=0, transport=transport
    )
    return Runtime(
        settings=make_settings(debitura_api_url=sandbox.url),
        keys=keys,
        redis=redis,
        debitura=client,
        debitura_background=client,
        slack=slack,
        metrics=Metrics(),
    )


@pytest.fixture
async def runtime(
    sandbox: SandboxHandle, redis: aioredis.Redis, keys: Keys, slack_client: AsyncWebClient
) -> AsyncIterator[Runtime]:
    rt = build_runtime(sandbox, redis, keys, slack_client)
    yield rt
    await rt.debitura.aclose()


def pay_form(amount: str, **kw: Any) -> PaymentForm:
    return PaymentForm(
        date=TODAY,
        amount=Decimal(amount),
        recipient=kw.pop("recipient", Recipient.COLLECTION_PARTNER),
        commission=kw.pop("commission", None),
        **kw,
    )


async def audit_actions(runtime: Runtime) -> list[str]:
    return [e["action"] for e in await audit.recent_entries(runtime)]


# --- payments ------------------------------------------------------------------------------------


async def test_record_payment_shows_warnings_and_audits(runtime: Runtime, sandbox: SandboxHandle) -> None:
    summary = sandbox.case("Active")
    case = await runtime.debitura.get_case(summary["id"])
    form = pay_form("10.00", payout_creditor=Decimal("0.00"), payout_partner=Decimal("10.00"))
    key = derive_key("payment", "V1", case.id, form.normalised())
    result = await payments.record_payment(runtime, case=case, form=form, idempotency_key=key, user_id="U1")
    assert result.ok and "10.00" in result.text
    assert any("creditor receives nothing" in w for w in result.warnings)
    assert await audit_actions(runtime) == ["payment"]


async def test_record_payment_same_key_records_once(runtime: Runtime, sandbox: SandboxHandle) -> None:
    case = await runtime.debitura.get_case(sandbox.case("Active")["id"])
    before = len(await runtime.debitura.list_payments(case.id))
    form = pay_form("12.34", recipient=Recipient.CREDITOR, commission=CommissionStatus.UNPAID)
    key = derive_key("payment", "V2", case.id, form.normalised())
    first = await payments.record_payment(runtime, case=case, form=form, idempotency_key=key, user_id="U1")
    second = await payments.record_payment(runtime, case=case, form=form, idempotency_key=key, user_id="U1")
    assert first.data["payment_id"] == second.data["payment_id"]
    assert len(await runtime.debitura.list_payments(case.id)) == before + 1


async def test_record_payment_in_flight_key_waits_for_the_first(
    runtime: Runtime, sandbox: SandboxHandle
) -> None:
    case = await runtime.debitura.get_case(sandbox.case("Active")["id"])
    before = len(await runtime.debitura.list_payments(case.id))
    sandbox.control.add_fault("/cases/*/payments", method="POST", hold_ms=600, times=1)
    form = pay_form("5.00")
    key = derive_key("payment", "V3", case.id, form.normalised())

    async def short_sleep(_: float) -> None:
        await asyncio.sleep(0.2)

    first, second = await asyncio.gather(
        payments.record_payment(
            runtime, case=case, form=form, idempotency_key=key, user_id="U1", sleep=short_sleep
        ),
        payments.record_payment(
            runtime, case=case, form=form, idempotency_key=key, user_id="U1", sleep=short_sleep
        ),
    )
    assert first.ok and second.ok
    assert first.data["payment_id"] == second.data["payment_id"]
    assert len(await runtime.debitura.list_payments(case.id)) == before + 1


async def test_record_payment_settling_closes_the_case(runtime: Runtime, sandbox: SandboxHandle) -> None:
    case = await runtime.debitura.get_case(sandbox.case("Active")["id"])
    assert case.remainder is not None and case.remainder > 0
    form = pay_form(str(case.remainder), close_case=True)
    key = derive_key("payment", "V4", case.id, form.normalised())
    result = await payments.record_payment(runtime, case=case, form=form, idempotency_key=key, user_id="U1")
    assert result.ok and result.data["case_closed"] == "1"
    assert closing.is_closed(await runtime.debitura.get_case(case.id))


async def paid_closed_case(runtime: Runtime, sandbox: SandboxHandle) -> tuple[Any, Any]:
    summary = sandbox.case("Closed", close_code="Paid", with_payments=True, invoiced=False)
    case = await runtime.debitura.get_case(summary["id"])
    listed = await runtime.debitura.list_payments(case.id)
    return case, listed[0]


async def test_edit_payment_409_then_reopen(runtime: Runtime, sandbox: SandboxHandle) -> None:
    case, payment = await paid_closed_case(runtime, sandbox)
    assert payment.gross_amount is not None and payment.gross_amount > Decimal("1")
    form = PaymentEditForm(
        date=TODAY,
        amount=payment.gross_amount - Decimal("1.00"),
        recipient=Recipient.COLLECTION_PARTNER,
        commission=None,
    )
    first = await payments.edit_payment(
        runtime, case=case, payment_id=payment.id, form=form, reopen=False, user_id="U1"
    )
    assert isinstance(first, payments.NeedsReopen)
    second = await payments.edit_payment(
        runtime, case=case, payment_id=payment.id, form=form, reopen=True, user_id="U1"
    )
    assert isinstance(second, WriteResult) and second.ok and "reopened" in second.text
    fresh = await runtime.debitura.get_case(case.id)
    assert fresh.lifecycle is not None and fresh.lifecycle.name is Lifecycle.Active
    assert await audit_actions(runtime) == ["payment_edit"]


async def test_delete_payment_409_then_reopen(runtime: Runtime, sandbox: SandboxHandle) -> None:
    case, payment = await paid_closed_case(runtime, sandbox)
    first = await payments.delete_payment(runtime, case=case, payment=payment, reopen=False, user_id="U1")
    assert isinstance(first, payments.NeedsReopen)
    second = await payments.delete_payment(runtime, case=case, payment=payment, reopen=True, user_id="U1")
    assert isinstance(second, WriteResult) and second.ok
    assert payment.id not in {p.id for p in await runtime.debitura.list_payments(case.id)}


async def test_invoiced_payment_is_frozen(runtime: Runtime, sandbox: SandboxHandle) -> None:
    summary = sandbox.case(invoiced=True, lifecycle=None)
    case = await runtime.debitura.get_case(summary["id"])
    payment = next(
        p for p in await runtime.debitura.list_payments(case.id) if p.id in summary["invoicedPaymentIds"]
    )
    deleted = await payments.delete_payment(runtime, case=case, payment=payment, reopen=False, user_id="U1")
    assert isinstance(deleted, WriteResult) and not deleted.ok and "invoiced" in deleted.text
    form = PaymentEditForm(
        date=TODAY, amount=Decimal("1.00"), recipient=Recipient.COLLECTION_PARTNER, commission=None
    )
    edited = await payments.edit_payment(
        runtime, case=case, payment_id=payment.id, form=form, reopen=False, user_id="U1"
    )
    assert isinstance(edited, WriteResult) and not edited.ok and "frozen" in edited.text
    assert await audit_actions(runtime) == []


# --- close ---------------------------------------------------------------------------------------


async def test_close_case_other_with_comment(runtime: Runtime, sandbox: SandboxHandle) -> None:
    case = await runtime.debitura.get_case(sandbox.case("Active")["id"])
    result = await closing.close_case(
        runtime, case=case, form=CloseForm("Other", "Debtor emigrated"), user_id="U1"
    )
    assert result.ok
    assert closing.is_closed(await runtime.debitura.get_case(case.id))
    assert await audit_actions(runtime) == ["close"]


async def test_close_paid_without_payments_refused_by_debitura(
    runtime: Runtime, sandbox: SandboxHandle
) -> None:
    case = await runtime.debitura.get_case(sandbox.case("Active", with_payments=False)["id"])
    with pytest.raises(BadRequest):
        await closing.close_case(runtime, case=case, form=CloseForm("Paid", None), user_id="U1")


async def test_close_unknown_outcome_not_applied(runtime: Runtime, sandbox: SandboxHandle) -> None:
    case = await runtime.debitura.get_case(sandbox.case("Active")["id"])
    sandbox.control.add_fault("/cases/*/close", method="POST", error_rate=1.0, times=1)
    result = await closing.close_case(
        runtime, case=case, form=CloseForm("DebtorUntraceable", None), user_id="U1"
    )
    assert not result.ok and "still open" in result.text
    assert not closing.is_closed(await runtime.debitura.get_case(case.id))


async def test_close_unknown_outcome_but_applied(
    sandbox: SandboxHandle, redis: aioredis.Redis, keys: Keys, slack_client: AsyncWebClient
) -> None:
    rt = build_runtime(sandbox, redis, keys, slack_client, transport=TimeoutAfterSending("POST", "/close"))
    try:
        case = await rt.debitura.get_case(sandbox.case("Active")["id"])
        result = await closing.close_case(
            rt, case=case, form=CloseForm("WithdrawnByClient", None), user_id="U1"
        )
        assert result.ok and "confirmed" in result.text
        assert await audit_actions(rt) == ["close"]
    finally:
        await rt.debitura.aclose()


# --- notes ---------------------------------------------------------------------------------------


async def test_add_note_appears_in_the_timeline(runtime: Runtime, sandbox: SandboxHandle) -> None:
    case = await runtime.debitura.get_case(sandbox.case("Active")["id"])
    result = await notes.add_note(
        runtime, case=case, form=NoteForm("Called the debtor, promised Friday"), user_id="U1"
    )
    assert result.ok
    timeline = await runtime.debitura.get_timeline(case.id)
    assert any(i.description == "Called the debtor, promised Friday" for i in timeline.items)


async def test_add_note_unknown_outcome_resolved_from_timeline(
    sandbox: SandboxHandle, redis: aioredis.Redis, keys: Keys, slack_client: AsyncWebClient
) -> None:
    rt = build_runtime(sandbox, redis, keys, slack_client, transport=TimeoutAfterSending("POST", "/notes"))
    try:
        case = await rt.debitura.get_case(sandbox.case("Active")["id"])
        result = await notes.add_note(rt, case=case, form=NoteForm("Saved despite the timeout"), user_id="U1")
        assert result.ok and "timeline" in result.text
    finally:
        await rt.debitura.aclose()


async def test_add_note_unknown_outcome_not_saved(runtime: Runtime, sandbox: SandboxHandle) -> None:
    case = await runtime.debitura.get_case(sandbox.case("Active")["id"])
    sandbox.control.add_fault("/cases/*/notes", method="POST", error_rate=1.0, times=1)
    result = await notes.add_note(runtime, case=case, form=NoteForm("Lost note"), user_id="U1")
    assert not result.ok and "not saved" in result.text
    assert await audit_actions(runtime) == []


# --- fees ----------------------------------------------------------------------------------------


async def test_fees_price_change_gate_then_confirm(runtime: Runtime, sandbox: SandboxHandle) -> None:
    case = await runtime.debitura.get_case(sandbox.case("Active", intentional_rate=False)["id"])
    assert case.gross_amount is not None
    form = FeesForm(
        principal=case.gross_amount * 20,
        interest_fees=Decimal("1.00"),
        reminder_fees=Decimal("2.00"),
        collection_fees=Decimal("3.00"),
    )
    gate = await fees.update_fees(runtime, case=case, form=form, user_id="U1")
    assert isinstance(gate, PriceChangeRequired) and not gate.is_intentional_rate
    assert gate.proposed_success_fee != gate.current_success_fee
    done = await fees.update_fees(
        runtime, case=case, form=form, user_id="U1", confirm=True, intentional=False
    )
    assert isinstance(done, WriteResult) and done.ok
    fresh = await runtime.debitura.get_case(case.id)
    assert fresh.gross_amount == form.principal and fresh.collection_fees == Decimal("3.00")


async def test_fees_intentional_rate_is_kept(runtime: Runtime, sandbox: SandboxHandle) -> None:
    case = await runtime.debitura.get_case(sandbox.case("Active", intentional_rate=True)["id"])
    assert case.gross_amount is not None
    form = FeesForm(
        principal=case.gross_amount * 20,
        interest_fees=Decimal(0),
        reminder_fees=Decimal(0),
        collection_fees=Decimal(0),
    )
    gate = await fees.update_fees(runtime, case=case, form=form, user_id="U1")
    assert isinstance(gate, PriceChangeRequired) and gate.is_intentional_rate
    done = await fees.update_fees(runtime, case=case, form=form, user_id="U1", confirm=True, intentional=True)
    assert isinstance(done, WriteResult) and done.ok


# --- chat and activation -------------------------------------------------------------------------


async def test_send_chat_same_key_posts_once(runtime: Runtime, sandbox: SandboxHandle) -> None:
    case = await runtime.debitura.get_case(sandbox.case("Active")["id"])
    before = len(await runtime.debitura.list_chats(case.id))
    form = ChatForm("We received the payment plan, thank you.")
    key = derive_key("chat", "V9", case.id, {"text": form.text})
    email = sandbox.user_email()
    a = await chats.send_chat(
        runtime, case=case, form=form, sender_email=email, idempotency_key=key, user_id="U1"
    )
    b = await chats.send_chat(
        runtime, case=case, form=form, sender_email=email, idempotency_key=key, user_id="U1"
    )
    assert a.data["chat_id"] == b.data["chat_id"]
    assert len(await runtime.debitura.list_chats(case.id)) == before + 1


async def test_activate_pending_case(runtime: Runtime, sandbox: SandboxHandle) -> None:
    summary = sandbox.case("PendingVerification", custom_terms=False)
    case = await runtime.debitura.get_case(summary["id"])
    form = ActivateForm(
        welcome_message="Welcome, we take it from here.",
        partner_reference=f"T-{case.reference}",
        assigned_user_email=sandbox.user_email(),
        interest_fees=Decimal("1.00"),
        reminder_fees=Decimal(0),
        collection_fees=Decimal(0),
    )
    result = await activation.activate_case(
        runtime, case=case, form=form, actor_email=sandbox.user_email(), user_id="U1"
    )
    assert result.ok
    fresh = await runtime.debitura.get_case(case.id)
    assert fresh.lifecycle is not None and fresh.lifecycle.name is Lifecycle.Active
    found = await runtime.debitura.get_case_by_partner_reference(f"T-{case.reference}")
    assert found.id == case.id
