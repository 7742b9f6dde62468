from __future__ import annotations

from datetime import date

import pytest

from blocks.ids import Action
from blocks.metadata import CaseRef, ListPage, PaymentRef
from blocks.text import MAX_SECTION_TEXT
from blocks.views import (
    LIST_PAGE_SIZE,
    build_case_list,
    build_files,
    build_find_result,
    build_notice,
    build_payments,
    build_period,
    build_timeline,
    build_usage,
    build_validation,
    pack_rows,
)
from bot.debitura.models import CasePage
from tests.blocks.factories import (
    CASE_ID,
    LONG,
    case_json,
    longest_case,
    make_case,
    make_files,
    make_payments,
    make_period,
    make_timeline,
    make_validation,
)
from tests.blocks.walk import action_ids, mrkdwn_text
from tests.fakes.slack.validation import assert_valid_message

TODAY = date(2026, 11, 26)


def _page(n: int, *, page: int = 1, total_pages: int | None = 3, evil: bool = False) -> CasePage:
    cases = []
    for i in range(n):
        extra = {"debtor": {"name": "<!channel> " * 500, "type": "Person"}} if evil else {}
        cases.append(case_json(id=f"00000000-0000-0000-0000-{i:012d}", reference=f"REF{i:05d}", **extra))
    return CasePage.model_validate({
        "page": {"totalResults": 55, "pageSize": LIST_PAGE_SIZE, "currentPage": page, "responseCount": n,
                 "totalPages": total_pages},
        "cases": cases,
    })


def test_pack_rows_packs_and_counts_what_does_not_fit() -> None:
    rows = [f"row {i} " + "x" * 500 for i in range(100)]
    blocks = pack_rows(rows, max_blocks=3, more="… and {n} more")
    assert len(blocks) == 3
    assert all(len(b["text"]["text"]) <= MAX_SECTION_TEXT for b in blocks)
    last = blocks[-1]["text"]["text"]
    assert last.endswith("more") and "… and " in last
    shown = sum(b["text"]["text"].count("row ") for b in blocks)
    assert f"… and {100 - shown} more" in last


def test_pack_rows_with_room_to_spare_keeps_every_row() -> None:
    blocks = pack_rows(["a", "b", "c"], max_blocks=5)
    assert blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": "a\nb\nc"}}]
    with pytest.raises(ValueError):
        pack_rows(["a"], max_blocks=0)


def test_usage_names_the_command_and_the_problem() -> None:
    msg = build_usage("/case", problem="Unknown command `frob`.", example="Q8OAXF3W")
    assert_valid_message(msg)
    text = mrkdwn_text(msg)
    assert "Unknown command `frob`." in text and "Example: `/case Q8OAXF3W`" in text
    assert "`/case list [mine] [lifecycle:Active,Paused] [phase:Legal] [page N]`" in text
    assert len(build_usage("/case")["blocks"]) == 1


def test_case_list_has_open_buttons_and_navigation() -> None:
    msg = build_case_list(_page(LIST_PAGE_SIZE, page=2), ListPage(st=("Active",), page=2), command="/case",
                          channel_id="C1")
    assert_valid_message(msg)
    ids = action_ids(msg)
    assert ids.count(Action.SHOW_CARD) == LIST_PAGE_SIZE
    nav = [e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [e["text"]["text"] for e in nav] == ["Previous", "Next"]
    assert ListPage.decode(nav[0]["value"]) == ListPage(st=("Active",), page=1)
    assert ListPage.decode(nav[1]["value"]) == ListPage(st=("Active",), page=3)
    assert "Page 2 of 3 · 55 cases" in mrkdwn_text(msg)


def test_case_list_last_page_has_no_next_and_first_no_previous() -> None:
    last = build_case_list(_page(5, page=3), ListPage(page=3), command="/case")
    assert [e["text"]["text"] for b in last["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        "Previous"]
    only = build_case_list(_page(5, total_pages=1), ListPage(), command="/case")
    assert_valid_message(last)
    assert not [b for b in only["blocks"] if b["type"] == "actions"]


def test_empty_case_list_says_so() -> None:
    msg = build_case_list(CasePage.model_validate({"page": None, "cases": []}), ListPage(), command="/case")
    assert_valid_message(msg)
    assert "No cases are assigned to you." in mrkdwn_text(msg)
    empty = CasePage.model_validate({"cases": []})
    filtered = build_case_list(empty, ListPage(st=("Paused",)), command="/cr")
    assert "No cases match. `/cr list` without filters" in mrkdwn_text(filtered)
    beyond = build_case_list(CasePage.model_validate({"cases": []}), ListPage(page=9), command="/cr")
    assert "No cases on this page." in mrkdwn_text(beyond)


def test_case_list_with_the_longest_names_is_valid_and_escaped() -> None:
    msg = build_case_list(_page(LIST_PAGE_SIZE, evil=True), ListPage(), command="/case")
    assert_valid_message(msg)
    assert "<!channel>" not in mrkdwn_text(msg)


def test_find_lists_found_and_missing_references() -> None:
    found = {"INV-1": make_case()}
    msg = build_find_result(["INV-1", "INV-<2>"], found)
    assert_valid_message(msg)
    text = mrkdwn_text(msg)
    assert "Found 1 of 2 references" in text
    assert "`INV-1` → *Q8OAXF3W*" in text
    assert "`INV-&lt;2&gt;` → not found, or not assigned to you" in text


def test_find_with_100_long_references_fits_one_message() -> None:
    refs = [f"{i:03d}" + "R" * 125 for i in range(100)]
    found = {r: longest_case() for r in refs[::2]}
    msg = build_find_result(refs, found)
    assert_valid_message(msg)
    assert len(msg["blocks"]) <= 50


def test_timeline_is_newest_first_and_escaped() -> None:
    msg = build_timeline(make_case(), make_timeline(3))
    assert_valid_message(msg)
    text = mrkdwn_text(msg)
    assert text.index("Note 2") < text.index("Note 1") < text.index("Note 0")
    assert "Jane &lt;Agent&gt;" in text
    assert "engagement phase: Legal" in text
    assert Action.SHOW_CARD in action_ids(msg)


def test_timeline_with_hundreds_of_10000_char_items_stays_in_limits() -> None:
    msg = build_timeline(longest_case(), make_timeline(500, description=LONG))
    assert_valid_message(msg)
    assert len(msg["blocks"]) <= 50
    assert "older items" in mrkdwn_text(msg)


def test_empty_timeline() -> None:
    msg = build_timeline(make_case(), make_timeline(0))
    assert_valid_message(msg)
    assert "No timeline entries yet." in mrkdwn_text(msg)


def test_payments_have_edit_and_delete_for_admins() -> None:
    payments = make_payments(3)
    msg = build_payments(make_case(), payments, can_edit=True, channel_id="C1")
    assert_valid_message(msg)
    ids = action_ids(msg)
    assert ids.count(Action.EDIT_PAYMENT) == 3 and ids.count(Action.DELETE_PAYMENT) == 3
    values = [e["value"] for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]
              if e["action_id"] == Action.EDIT_PAYMENT]
    assert PaymentRef.decode(values[0]) == PaymentRef(id=CASE_ID, ref="Q8OAXF3W", pid=payments[2].id, ch="C1")
    delete = next(e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == Action.DELETE_PAYMENT)
    assert delete["style"] == "danger" and "confirm" not in delete  # the delete form confirms
    assert "3 payments · total 33.00 EUR" in mrkdwn_text(msg)


def test_payments_without_admin_rights_have_no_edit_buttons() -> None:
    msg = build_payments(make_case(), make_payments(3), can_edit=False)
    assert_valid_message(msg)
    assert Action.EDIT_PAYMENT not in action_ids(msg)
    assert mrkdwn_text(msg).count("CollectionPartner") == 3


def test_100_payments_fit_in_one_message() -> None:
    msg = build_payments(longest_case(), make_payments(100, text="<!channel> " * 1000), can_edit=True)
    assert_valid_message(msg)
    assert len(msg["blocks"]) <= 50
    ids = action_ids(msg)
    assert ids.count(Action.EDIT_PAYMENT) == 20
    text = mrkdwn_text(msg)
    assert "<!channel>" not in text
    assert "100 payments" in text


def test_no_payments() -> None:
    msg = build_payments(make_case(), [], can_edit=True)
    assert_valid_message(msg)
    assert "No payments recorded." in mrkdwn_text(msg)


def test_files_link_safely() -> None:
    msg = build_files(make_case(), make_files(2))
    assert_valid_message(msg)
    text = mrkdwn_text(msg)
    assert "<https://files.example/1?sig=a&amp;b=c|contract¦1&gt;.pdf>" in text
    assert "OriginalInvoice" in text


def test_many_long_files_fit() -> None:
    msg = build_files(longest_case(), make_files(300, description=LONG))
    assert_valid_message(msg)
    assert len(msg["blocks"]) <= 50


def test_period_and_validation_views() -> None:
    period = build_period(make_case(), make_period(3), today=TODAY)
    assert_valid_message(period)
    text = mrkdwn_text(period)
    assert "2026-12-06 (10 days left)" in text and "Extensions (3)" in text and "PromiseToPay" in text
    validation = build_validation(make_case(), make_validation(2))
    assert_valid_message(validation)
    assert mrkdwn_text(validation).count("Upload the original invoice") == 2
    ok = build_validation(make_case(), make_validation(0))
    assert "Nothing is missing" in mrkdwn_text(ok)


def test_validation_with_many_long_items_fits() -> None:
    msg = build_validation(longest_case(), make_validation(400, description=LONG))
    assert_valid_message(msg)
    assert len(msg["blocks"]) <= 50


def test_notice_is_one_section() -> None:
    msg = build_notice("hello")
    assert_valid_message(msg)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}
    assert msg == {"text": "hello", "blocks": [section]}


def test_back_button_carries_the_case() -> None:
    msg = build_files(make_case(), [], channel_id="C7")
    back = next(e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert CaseRef.decode(back["value"]) == CaseRef(id=CASE_ID, ref="Q8OAXF3W", ch="C7")
