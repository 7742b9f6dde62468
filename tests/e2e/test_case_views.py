"""`/case list|find|timeline|payments|files|period|validation` through the real process."""

from __future__ import annotations

import pytest

from blocks.ids import Action
from tests.e2e.case_helpers import action_ids, click, mrkdwn, render, reply, run
from tests.fixtures.e2e import Caseroom, Factory
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.e2e


async def test_list_pages_forward_and_back(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    total = len(sandbox.case_ids)
    assert total > 20, "the seeded sandbox must have more than one page of cases"
    post = await reply(caseroom_http, await run(caseroom_http, "list"))
    first = mrkdwn({"blocks": post.body["blocks"]})
    assert "Page 1 of" in first and f"{total} cases" in first
    assert action_ids(post.body).count(Action.SHOW_CARD) == 20
    listing = render(caseroom_http, post)
    nav = [b["elements"][0]["text"]["text"] for b in post.body["blocks"] if b["type"] == "actions"]
    assert nav == ["Next"]
    journal = caseroom_http.fake.journal

    def shown() -> str:
        return mrkdwn({"blocks": listing.blocks})

    await click(caseroom_http, listing, Action.LIST_PAGE)  # Next: the list message is replaced
    await journal.wait_for(lambda: "Page 2 of" in shown() or None, timeout=20, what="page 2")
    page2 = shown()
    assert page2 != first
    buttons = [b["elements"][0]["text"]["text"] for b in listing.blocks or [] if b["type"] == "actions"]
    assert buttons[0] == "Previous"
    await click(caseroom_http, listing, Action.LIST_PAGE)  # Previous is the first LIST_PAGE button
    await journal.wait_for(lambda: "Page 1 of" in shown() or None, timeout=20, what="page 1 again")
    assert shown() == first


async def test_list_filters_by_status(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    paused = sandbox.cases("Paused")
    post = await reply(caseroom_http, await run(caseroom_http, "list paused"))
    text = mrkdwn(post.body)
    assert f"{len(paused)} case" in text and "(Paused)" in text
    for case in paused[:20]:
        assert case["reference"] in text


async def test_find_by_partner_references(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    with_refs = sandbox.cases(None, partner_reference=True)[:2]
    refs = [c["partnerReference"] for c in with_refs]
    post = await reply(caseroom_http, await run(caseroom_http, "find " + ",".join([*refs, "NOPE-404"])))
    text = mrkdwn(post.body)
    assert f"Found {len(refs)} of {len(refs) + 1} references" in text
    for case in with_refs:
        assert case["reference"] in text
    assert "`NOPE-404` → not found, or not assigned to you" in text


async def test_each_view_command(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", with_payments=True, exclusive_period=True)
    ref = case["reference"]
    for kind, title in (("timeline", "Timeline"), ("payments", "Payments"), ("files", "Files"),
                        ("period", "Exclusive period"), ("validation", "Validation")):
        post = await reply(caseroom_http, await run(caseroom_http, f"{kind} {ref}"))
        assert post.ephemeral
        assert f"{title} · {ref}" in mrkdwn(post.body), kind
    payments = await reply(caseroom_http, await run(caseroom_http, f"payments {ref}"))
    ids = action_ids(payments.body)
    assert ids.count(Action.EDIT_PAYMENT) == len(case["paymentIds"]) == ids.count(Action.DELETE_PAYMENT)


async def test_period_of_a_case_without_one(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    case = sandbox.case(None, exclusive_period=False)
    post = await reply(caseroom_http, await run(caseroom_http, f"period {case['reference']}"))
    assert "has no exclusive collection period" in post.text


async def test_non_admins_see_payments_without_edit_buttons(
    caseroom_factory: Factory, sandbox: SandboxHandle
) -> None:
    caseroom = await caseroom_factory("http", env={"CASEROOM_ADMIN_USERS": "U0SOMEBOSS"})
    case = sandbox.case("Active", with_payments=True)
    post = await reply(caseroom, await run(caseroom, f"payments {case['reference']}"))
    ids = action_ids(post.body)
    assert Action.EDIT_PAYMENT not in ids and Action.DELETE_PAYMENT not in ids
    assert "payment" in mrkdwn(post.body)
