"""Every write-modal builder passes the fake Slack's Block Kit validation (ordinary and longest values)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from blocks import forms
from blocks.forms import CaseSummary, Fees, PaymentInfo, TeamMember
from blocks.ids import Action, Block, Callback, Element
from blocks.metadata import CaseRef, ModalContext
from blocks.parse import CLOSE_CODES, DOCUMENT_TYPES, OPTION_CLOSE_CASE, OPTION_FOLLOW_UP, Recipient
from tests.fakes.slack.validation import validate_view

TODAY = date(2026, 11, 26)
LONG_NAME = "Ø" * 250 + " <!channel> & Sons A/S " + "x" * 500
CASE = CaseSummary(
    reference="Q8OAXF3W", debtor="Jane & <Doe> ApS", currency="EUR", remainder=Decimal("250.00")
)
LONG_CASE = CaseSummary(
    reference="Q8OAXF3W", debtor=LONG_NAME, currency="EUR", remainder=Decimal("999999999999.99")
)


def ctx(**extra: str) -> ModalContext:
    return ModalContext(
        kind="pay",
        case=CaseRef(id="3fa85f64-5717-4562-b3fc-2c963f66afa6", ref="Q8OAXF3W", ch="C0123456789"),
        ch="C0123456789",
        user="U0123456789",
        cur="EUR",
        extra=extra,
    )


def assert_valid(view: dict[str, Any]) -> None:
    errors = validate_view(view)
    assert errors == [], errors
    assert len(view["title"]["text"]) <= 24
    if "submit" in view:
        assert len(view["submit"]["text"]) <= 24
    assert len(view["close"]["text"]) <= 24


def input_blocks(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def all_views(case: CaseSummary) -> list[dict[str, Any]]:
    payment = PaymentInfo(id="p1", date=TODAY, amount=Decimal("250.00"), currency="EUR", recipient="Creditor")
    team = [TeamMember(email=f"user{i}@example.com", name=f"User {i} " + "n" * 80) for i in range(150)]
    return [
        forms.build_loading_view("Record payment"),
        forms.build_working_view("Record payment"),
        forms.build_result_view(
            "Record payment", "Done *Q8OAXF3W*", warnings=["w" * 3000] * 30, details=["d" * 3000] * 30
        ),
        forms.build_error_view("Record payment", "x" * 5000, error_id="abc123"),
        forms.build_note_view(ctx(), case, initial_text="n" * 5000, timezone="Europe/Copenhagen"),
        forms.build_pick_case_view(ctx(), initial_text="n" * 3000),
        forms.build_payment_view(ctx(), case, today=TODAY),
        forms.build_payment_view(
            ctx(), case, today=TODAY, settles=True, recipient=Recipient.CREDITOR, close_case=True
        ),
        forms.build_payment_view(ctx(), case, today=TODAY, recipient=Recipient.PLATFORM, follow_up=False),
        forms.build_payment_edit_view(ctx(), case, payment, today=TODAY),
        forms.build_payment_edit_confirm_view(ctx(), case, before="a" * 3000, after="b" * 3000),
        forms.build_payment_edit_confirm_view(ctx(), case, before="a", after="b", needs_reopen=True),
        forms.build_payment_delete_view(ctx(), case, payment),
        forms.build_payment_delete_view(ctx(), case, payment, needs_reopen=True),
        forms.build_chat_view(ctx(), case, sender=LONG_NAME),
        forms.build_upload_view(ctx(), case),
        forms.build_close_view(ctx(), case, payments_line="3 payments"),
        forms.build_activate_view(
            ctx(), case, actor=LONG_NAME, team=team, fees=Fees(Decimal("1.5"), Decimal(0), None)
        ),
        forms.build_fees_view(
            ctx(), case, principal=Decimal("1000"), fees=Fees(Decimal("1"), Decimal("2"), Decimal("3"))
        ),
        forms.build_fees_confirm_view(
            ctx(),
            case,
            current=Decimal("20.5"),
            proposed=Decimal("25"),
            intentional=False,
            warning="w" * 5000,
            message="m" * 5000,
        ),
        forms.build_fees_confirm_view(ctx(), case, current=None, proposed=None, intentional=True),
    ]


@pytest.mark.parametrize("case", [CASE, LONG_CASE], ids=["ordinary", "longest"])
def test_forms_every_builder_is_valid_block_kit(case: CaseSummary) -> None:
    for view in all_views(case):
        assert_valid(view)


def test_forms_input_ids_come_from_blocks_ids() -> None:
    known_blocks = {str(b) for b in Block}
    known_actions = {str(Element.VALUE), str(Action.PAYMENT_AMOUNT_CHANGED), str(Action.RECIPIENT_CHANGED)}
    callbacks = {str(c) for c in Callback}
    for view in all_views(CASE):
        assert view["callback_id"] in callbacks
        for block_id, block in input_blocks(view).items():
            assert block_id in known_blocks
            assert block["element"]["action_id"] in known_actions


def test_forms_note_says_slack_holds_3000_and_caps_input() -> None:
    view = forms.build_note_view(ctx(), CASE, initial_text="n" * 5000)
    text = input_blocks(view)[Block.NOTE_TEXT]
    assert text["element"]["max_length"] == 3000
    assert len(text["element"]["initial_value"]) == 3000
    assert "3,000" in text["hint"]["text"]
    assert input_blocks(view)[Block.NOTE_DATE]["optional"] is True


def test_forms_payment_offers_close_only_when_it_settles() -> None:
    def option_values(view: dict[str, Any]) -> list[str]:
        return [o["value"] for o in input_blocks(view)[Block.PAY_OPTIONS]["element"]["options"]]

    plain = forms.build_payment_view(ctx(), CASE, today=TODAY)
    assert option_values(plain) == [OPTION_FOLLOW_UP]
    settled = forms.build_payment_view(ctx(), CASE, today=TODAY, settles=True)
    assert OPTION_CLOSE_CASE in option_values(settled)
    initial = input_blocks(plain)[Block.PAY_OPTIONS]["element"]["initial_options"]
    assert [o["value"] for o in initial] == [OPTION_FOLLOW_UP]  # follow-up on by default


def test_forms_payment_amount_dispatches_and_shows_currency() -> None:
    view = forms.build_payment_view(ctx(), CASE, today=TODAY)
    amount = input_blocks(view)[Block.PAY_AMOUNT]
    assert amount["dispatch_action"] is True
    assert amount["element"]["action_id"] == Action.PAYMENT_AMOUNT_CHANGED
    assert "EUR" in amount["label"]["text"]
    recipients = [o["value"] for o in input_blocks(view)[Block.PAY_RECIPIENT]["element"]["options"]]
    assert recipients == ["Creditor", "CollectionPartner", "Platform"]


def test_forms_payment_commission_hidden_unless_creditor() -> None:
    for_partner = forms.build_payment_view(ctx(), CASE, today=TODAY, recipient=Recipient.COLLECTION_PARTNER)
    assert Block.PAY_COMMISSION not in input_blocks(for_partner)
    for_creditor = forms.build_payment_view(ctx(), CASE, today=TODAY, recipient=Recipient.CREDITOR)
    assert input_blocks(for_creditor)[Block.PAY_COMMISSION]["optional"] is False


def test_forms_payment_edit_has_no_platform_and_prefills() -> None:
    payment = PaymentInfo(
        id="p1", date=date(2026, 1, 2), amount=Decimal("12.5"), currency="EUR", recipient="CollectionPartner"
    )
    view = forms.build_payment_edit_view(ctx(), CASE, payment, today=TODAY)
    blocks = input_blocks(view)
    assert [o["value"] for o in blocks[Block.PAY_RECIPIENT]["element"]["options"]] == [
        "Creditor",
        "CollectionPartner",
    ]
    assert blocks[Block.PAY_AMOUNT]["element"]["initial_value"] == "12.50"
    assert blocks[Block.PAY_DATE]["element"]["initial_date"] == "2026-01-02"
    assert blocks[Block.PAY_RECIPIENT]["element"]["initial_option"]["value"] == "CollectionPartner"


def test_forms_close_lists_all_twelve_codes_with_labels() -> None:
    view = forms.build_close_view(ctx(), CASE)
    options = input_blocks(view)[Block.CLOSE_CODE]["element"]["options"]
    assert [o["value"] for o in options] == list(CLOSE_CODES)
    assert len(options) == 12
    assert all(o["text"]["text"] != o["value"] for o in options if o["value"] not in ("Other",))
    assert input_blocks(view)[Block.CLOSE_COMMENT]["element"]["max_length"] == 2000


def test_forms_upload_single_file_types_and_description_limit() -> None:
    view = forms.build_upload_view(ctx(), CASE)
    blocks = input_blocks(view)
    assert blocks[Block.UPLOAD_FILE]["element"]["max_files"] == 1
    assert [o["value"] for o in blocks[Block.UPLOAD_TYPE]["element"]["options"]] == ["none", *DOCUMENT_TYPES]
    assert blocks[Block.UPLOAD_DESCRIPTION]["element"]["max_length"] == 500


def test_forms_activate_caps_team_at_100_options() -> None:
    team = [TeamMember(email=f"u{i}@example.com") for i in range(250)]
    view = forms.build_activate_view(ctx(), CASE, actor="Jane", team=team)
    blocks = input_blocks(view)
    assert len(blocks[Block.ACT_ASSIGNEE]["element"]["options"]) == 100
    assert blocks[Block.ACT_REFERENCE]["element"]["max_length"] == 128
    assert blocks[Block.ACT_WELCOME]["optional"] is False


def test_forms_activate_without_team_has_no_assignee() -> None:
    view = forms.build_activate_view(ctx(), CASE, actor="Jane", team=[])
    assert Block.ACT_ASSIGNEE not in input_blocks(view)
    assert_valid(view)


def test_forms_fees_prefilled_with_todays_values() -> None:
    view = forms.build_fees_view(
        ctx(), CASE, principal=Decimal("1000"), fees=Fees(Decimal("10.5"), Decimal("0"), None)
    )
    blocks = input_blocks(view)
    assert blocks[Block.FEE_PRINCIPAL]["element"]["initial_value"] == "1000.00"
    assert blocks[Block.FEE_INTEREST]["element"]["initial_value"] == "10.50"
    assert blocks[Block.FEE_REMINDER]["element"]["initial_value"] == "0.00"
    assert "initial_value" not in blocks[Block.FEE_COLLECTION]["element"]


def test_forms_fees_confirm_shows_both_fees_and_the_right_button() -> None:
    view = forms.build_fees_confirm_view(
        ctx(), CASE, current=Decimal("20"), proposed=Decimal("25.5"), intentional=False
    )
    text = json.dumps(view)
    assert "20.00 %" in text and "25.50 %" in text
    assert view["submit"]["text"] == "Accept and save"
    keep = forms.build_fees_confirm_view(
        ctx(), CASE, current=Decimal("20"), proposed=Decimal("25.5"), intentional=True
    )
    assert keep["submit"]["text"] == "Keep rate and save"
    assert view["callback_id"] == Callback.FEES_CONFIRM


def test_forms_escape_api_text() -> None:
    view = forms.build_chat_view(ctx(), CASE, sender="<!channel>")
    text = json.dumps(view)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text
    assert "Jane &amp; &lt;Doe&gt; ApS" in text


def test_forms_metadata_round_trips() -> None:
    view = forms.build_note_view(ctx(tz="Europe/Copenhagen"), CASE)
    back = ModalContext.decode(view["private_metadata"])
    assert back.case is not None and back.case.ref == "Q8OAXF3W"
    assert back.extra["tz"] == "Europe/Copenhagen"


def test_forms_select_rejects_too_many_options() -> None:
    with pytest.raises(ValueError, match="100"):
        forms.select_element([forms.option(str(i), str(i)) for i in range(101)])
    with pytest.raises(ValueError, match="at least one"):
        forms.select_element([])


def test_forms_confirmations_ask_to_be_told_when_closed() -> None:
    payment = PaymentInfo(id="p1", date=TODAY, amount=Decimal("1"), currency="EUR")
    for view in (
        forms.build_payment_edit_confirm_view(ctx(), CASE, before="a", after="b"),
        forms.build_payment_delete_view(ctx(), CASE, payment),
        forms.build_fees_confirm_view(ctx(), CASE, current=None, proposed=None, intentional=False),
    ):
        assert view["notify_on_close"] is True
    assert "notify_on_close" not in forms.build_payment_view(ctx(), CASE, today=TODAY)
