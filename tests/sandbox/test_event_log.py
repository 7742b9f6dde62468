"""In-process: the webhook event log lags the delivery attempt; managed-case fields survive --state."""

from __future__ import annotations

import uuid

import httpx

from bot.sandbox.model import case_from_dict, to_dict
from bot.sandbox.state import State
from bot.sandbox.webhooks import EventRow, WebhookHub


def _hub(log_lag: float, seen: list[httpx.Request]) -> WebhookHub:
    hub = WebhookHub(lambda: "http://127.0.0.1", retry_base=0.0, timeout=1.0, log_lag=log_lag)

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    hub._client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return hub


def _row(hub: WebhookHub, case_id: str) -> EventRow:
    sub = hub.create("http://127.0.0.1:9/hook", ["case.updated"], is_test_mode=True)
    row = EventRow(id=str(uuid.uuid4()), subscription_id=sub.id, case_id=case_id, event_type="case.updated",
                   payload="{}", created_at="2026-01-01T00:00:00.000Z")
    hub.rows.append(row)
    hub.rows_by_id[row.id] = row
    return row


async def test_a_delivered_event_is_logged_only_after_the_lag() -> None:
    seen: list[httpx.Request] = []
    hub = _hub(30.0, seen)
    try:
        row = _row(hub, "case-1")
        assert hub.logged_rows("case-1") == []  # queued: not in the log
        await hub._deliver(row, replay=False)
        assert len(seen) == 1 and row.delivered_at is not None
        assert hub.logged_rows("case-1") == [] and not row.logged  # tried, but the log lags
        assert hub._tasks  # the pending log write is what `idle()` waits for
    finally:
        await hub.aclose()


async def test_without_a_lag_the_attempt_itself_logs_the_event() -> None:
    seen: list[httpx.Request] = []
    hub = _hub(0.0, seen)
    try:
        row = _row(hub, "case-2")
        await hub._deliver(row, replay=False)
        assert hub.logged_rows("case-2") == [row]
        hub.forget_case("case-2")
        assert hub.logged_rows("case-2") == [] and row.id not in hub.rows_by_id
    finally:
        await hub.aclose()


def test_managed_case_fields_survive_a_snapshot() -> None:
    state = State(7, 20)
    case = next(iter(state.cases.values()))
    case.managing_partner_id = state.partner.id
    case.tag = "smoke-1"
    case.last_deleted_payment = {"paymentId": "p", "amount": 1.0, "currency": "DKK"}
    again = case_from_dict(to_dict(case))
    assert (again.managing_partner_id, again.tag, again.last_deleted_payment) == (
        state.partner.id, "smoke-1", {"paymentId": "p", "amount": 1.0, "currency": "DKK"},
    )
    old = to_dict(case)
    for key in ("managing_partner_id", "tag", "last_deleted_payment"):
        del old[key]  # a state file written before these fields existed still loads
    assert case_from_dict(old).managing_partner_id is None
    restored = State(7, 20)
    restored.from_snapshot(state.to_snapshot())
    assert [c.id for c in restored.managed()] == [case.id]
