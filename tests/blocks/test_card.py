from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from blocks.card import CardOptions, build_case_card, payments_so_far
from blocks.ids import Action
from blocks.metadata import CaseRef
from tests.blocks.factories import CASE_ID, longest_case, make_case, make_validation
from tests.blocks.walk import action_ids as _action_ids
from tests.blocks.walk import all_text
from tests.blocks.walk import mrkdwn_text as _all_text
from tests.fakes.slack.validation import assert_valid_message

TODAY = date(2026, 11, 26)


def test_card_shows_amounts_period_and_people() -> None:
    card = build_case_card(make_case(), CardOptions(today=TODAY, channel_id="C1"))
    assert_valid_message(card)
    text = _all_text(card)
    assert "Q8OAXF3W" in all_text(card)
    assert "Müller &amp; &lt;Söhne&gt; GmbH" in text and "<Söhne>" not in text
    assert "1,234.50 EUR" in text  # principal
    assert "55.25 EUR" in text  # fees
    assert "250.00 EUR" in text  # payments so far: 1234.50 + 55.25 - 1039.75
    assert "1,039.75 EUR" in text  # outstanding
    assert "2026-12-06 (10 days left)" in text
    assert "Jane Agent" in text and "Pre-legal" in text and "Acme A/S" in text
    assert "*Validation*\nOK" in text


def test_payments_so_far_is_principal_plus_fees_minus_outstanding() -> None:
    assert payments_so_far(make_case()) == Decimal("250.00")
    assert payments_so_far(make_case(remainder=None)) is None


def test_buttons_follow_the_lifecycle() -> None:
    active = _action_ids(build_case_card(make_case(), CardOptions(today=TODAY)))
    assert Action.OPEN_ACTIVATE not in active
    assert {Action.OPEN_NOTE, Action.OPEN_PAYMENT, Action.OPEN_CHAT, Action.OPEN_UPLOAD, Action.OPEN_FEES,
            Action.OPEN_CLOSE, Action.SHOW_TIMELINE, Action.SHOW_PAYMENTS, Action.SHOW_FILES, Action.FOLLOW,
            Action.SHARE} <= set(active)
    pending_case = make_case(lifecycle="Pending Verification")
    pending = _action_ids(build_case_card(pending_case, CardOptions(today=TODAY)))
    assert Action.OPEN_ACTIVATE in pending
    closed = _action_ids(build_case_card(make_case(lifecycle="Closed", closeCode="Paid"),
                                         CardOptions(today=TODAY)))
    assert Action.OPEN_CLOSE not in closed and Action.OPEN_FEES not in closed
    merged = _action_ids(build_case_card(make_case(lifecycle="Merged"), CardOptions(today=TODAY)))
    assert Action.OPEN_FEES not in merged


def test_button_values_carry_the_case() -> None:
    card = build_case_card(make_case(), CardOptions(today=TODAY, channel_id="C9"))
    values = [e["value"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert values and all(CaseRef.decode(v) == CaseRef(id=CASE_ID, ref="Q8OAXF3W", ch="C9") for v in values)


def test_shared_card_has_no_share_button_and_names_who_shared() -> None:
    card = build_case_card(make_case(), CardOptions(today=TODAY, shared=True, shared_by="U42"))
    assert Action.SHARE not in _action_ids(card)
    assert "Shared by <@U42>" in _all_text(card)


def test_needs_info_lists_the_items() -> None:
    case = make_case(validation={"needsInfo": True}, lifecycle="More Info Required")
    card = build_case_card(case, CardOptions(today=TODAY), make_validation(3))
    assert_valid_message(card)
    text = _all_text(card)
    assert "needs info" in text and text.count("Upload the original invoice") == 3
    assert "More Info Required" in text


def test_needs_info_without_detail_still_says_so() -> None:
    card = build_case_card(make_case(validation={"needsInfo": True}), CardOptions(today=TODAY))
    assert "needs info" in _all_text(card)


def test_expired_period_counts_days_since() -> None:
    card = build_case_card(make_case(exclusivePeriodEndDate="2026-11-20T00:00:00Z"), CardOptions(today=TODAY))
    assert "ended 6 days ago" in _all_text(card)


def test_longest_values_stay_valid_and_escaped() -> None:
    case = longest_case(validation={"needsInfo": True})
    card = build_case_card(case, CardOptions(today=TODAY, channel_id="C1"), make_validation(200,
                           description="<!here> " * 2000))
    assert_valid_message(card)
    text = _all_text(card)
    assert "<!channel>" not in text and "<!here>" not in text
    assert len(card["blocks"]) <= 50
    assert "Disputed \u2013 Legal Action Declined by Client" in text
    assert "… and 180 more" not in text  # at most 20 items, and as many as fit
    assert "more (see the validation view)" in text


def test_sparse_case_does_not_crash() -> None:
    card = build_case_card(
        make_case(debtor=None, creditor=None, assignedUser=None, grossAmount=None, remainder=None,
                  lifecycle=None, exclusivePeriodEndDate=None, totalAddedFees=None, interestFees=None,
                  reminderFees=None, collectionFees=None, currency=None, validation=None, reference=None),
        CardOptions(today=TODAY),
    )
    assert_valid_message(card)
    assert CASE_ID in all_text(card)


def test_card_says_demo_data_only_in_demo_mode() -> None:
    demo = build_case_card(make_case(), CardOptions(today=TODAY, demo=True))
    assert_valid_message(demo)
    assert demo["blocks"][1]["type"] == "context"
    assert "Demo data" in all_text({"blocks": demo["blocks"][1:2]})
    plain = build_case_card(make_case(), CardOptions(today=TODAY))
    assert "Demo data" not in json.dumps(plain)
