"""Models: display-string codes both ways, lenient parsing, money, request serialisation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from bot.debitura.models import (
    SETTABLE_CLOSE_CODES,
    Case,
    CasePage,
    Chat,
    ChatRole,
    CloseCaseRequest,
    CloseCode,
    CloseCodeValue,
    CreateNoteRequest,
    CreatePaymentRequest,
    CreateWebhookRequest,
    Lifecycle,
    LifecycleValue,
    PriceChangeRequired,
    SendChatRequest,
    StartCaseRequest,
    TimelineItem,
    UpdateFeesRequest,
    UpdatePaymentRequest,
    normalise_code,
)
from tests.debitura import bodies

TIMELINE_ITEMS: list[dict[str, Any]] = bodies.TIMELINE["items"]

LIFECYCLE_DISPLAYS = [
    ("Pending contract signing", Lifecycle.PendingContractSigning),
    ("Pending Verification Internal", Lifecycle.PendingVerificationInternal),
    ("Pending Verification", Lifecycle.PendingVerification),
    ("More Info Required", Lifecycle.NeedsAdditionalDetails),
    ("Collecting Quotes", Lifecycle.Leads),
    ("Pending quote by partner", Lifecycle.Leads),
    ("Pending Quote Selection", Lifecycle.LeadsQuoteGiven),
    ("Quote given by partner", Lifecycle.LeadsQuoteGiven),
    ("Active", Lifecycle.Active),
    ("Paused", Lifecycle.Paused),
    ("Closed", Lifecycle.Closed),
    ("Merged", Lifecycle.Merged),
    # enum names and sloppy variants normalise too
    ("NeedsAdditionalDetails", Lifecycle.NeedsAdditionalDetails),
    ("pendingverification", Lifecycle.PendingVerification),
    ("  more-info  required ", Lifecycle.NeedsAdditionalDetails),
    ("LEADS_QUOTE_GIVEN", Lifecycle.LeadsQuoteGiven),
]

CLOSE_DISPLAYS = [
    ("Paid", CloseCode.Paid),
    ("Partially paid", CloseCode.PartiallyPaid),
    ("Case never started", CloseCode.CaseNeverStarted),
    ("Case never started - Internal", CloseCode.CaseNeverStartedInternal),
    ("Invalid Case Data", CloseCode.InvalidCaseData),
    ("Debtor Insolvent/Bankrupt", CloseCode.DebtorInsolventBankrupt),
    ("Debtor Untraceable", CloseCode.DebtorUntraceable),
    ("Disputed \u2013 Legal Action Declined by Client", CloseCode.DisputedLegalActionDeclinedByClient),
    ("Disputed - Legal Action Declined by Client", CloseCode.DisputedLegalActionDeclinedByClient),
    ("Disputed \u2014 Legal Action Declined By Client", CloseCode.DisputedLegalActionDeclinedByClient),
    ("Withdrawn by Client", CloseCode.WithdrawnByClient),
    ("Pre-Legal Exhausted \u2013 No Payment", CloseCode.PreLegalExhaustedNoPayment),
    ("Statute of Limitations Expired", CloseCode.StatuteOfLimitationsExpired),
    ("Settlement Rejected by Client", CloseCode.SettlementRejectedByClient),
    ("Unresponsive Client", CloseCode.UnresponsiveClient),
    ("Uneconomical to Pursue", CloseCode.UneconomicalToPursue),
    ("No Quotes Received", CloseCode.NoQuotesReceived),
    ("Quotes Expired \u2013 Not Accepted", CloseCode.QuotesExpiredNotAccepted),
    ("Other", CloseCode.Other),
    ("PartiallyPaid", CloseCode.PartiallyPaid),
]


@pytest.mark.parametrize(("display", "member"), LIFECYCLE_DISPLAYS)
def test_lifecycle_from_display(display: str, member: Lifecycle) -> None:
    assert Lifecycle.from_display(display) is member
    case = Case.model_validate(bodies.case(lifecycle=display))
    assert case.lifecycle is not None
    assert case.lifecycle.name is member and case.lifecycle.display == display
    assert case.lifecycle == member and case.lifecycle_name is member
    assert case.lifecycle.value == member.value


@pytest.mark.parametrize("member", list(Lifecycle))
def test_lifecycle_round_trips_name_display_name(member: Lifecycle) -> None:
    assert Lifecycle.from_display(member.display) is member
    assert Lifecycle.from_display(member.value) is member
    assert Lifecycle(member.value) is member


@pytest.mark.parametrize(("display", "member"), CLOSE_DISPLAYS)
def test_close_code_from_display(display: str, member: CloseCode) -> None:
    assert CloseCode.from_display(display) is member
    case = Case.model_validate(bodies.case(closeCode=display))
    assert case.close_code is not None and case.close_code.name is member
    assert case.close_code.display == display and str(case.close_code) == display


@pytest.mark.parametrize("member", list(CloseCode))
def test_close_code_round_trips(member: CloseCode) -> None:
    assert CloseCode.from_display(member.display) is member
    assert CloseCode.from_display(member.value) is member


def test_close_code_displays_keep_en_dashes() -> None:
    assert (
        CloseCode.DisputedLegalActionDeclinedByClient.display
        == "Disputed \u2013 Legal Action Declined by Client"
    )
    assert CloseCode.QuotesExpiredNotAccepted.display == "Quotes Expired \u2013 Not Accepted"



def test_display_enum_needs_its_display_texts_to_define() -> None:
    from bot.debitura.models import _DisplayEnum

    with pytest.raises(TypeError, match="displays"):

        class Untexted(_DisplayEnum):  # the point: no displays=
            A = "A"

    class Texted(_DisplayEnum, displays={"A": "Ay"}):
        A = "A"
        B = "B"

    assert Texted.A.display == "Ay" and Texted.B.display == "B"
    assert Texted.from_display("ay") is Texted.A

def test_enum_sizes() -> None:
    assert len(list(Lifecycle)) == 10 and len(list(CloseCode)) == 17


def test_unknown_codes_are_kept_without_crashing() -> None:
    case = Case.model_validate(bodies.case(lifecycle="Awaiting Court Date", closeCode="Debtor Emigrated"))
    assert case.lifecycle is not None and case.lifecycle.name is None and not case.lifecycle.known
    assert case.lifecycle.display == "Awaiting Court Date" and case.lifecycle.value == "Awaiting Court Date"
    assert case.close_code is not None and case.close_code.name is None
    assert case.lifecycle != Lifecycle.Active
    assert case.lifecycle == "awaiting court date"
    assert Lifecycle.from_display("Awaiting Court Date") is None


def test_code_values_serialise_back_to_display_text() -> None:
    case = Case.model_validate(bodies.case())
    dumped = json.loads(case.model_dump_json(by_alias=True))
    assert dumped["lifecycle"] == "More Info Required"
    assert Case.model_validate(dumped).lifecycle == Lifecycle.NeedsAdditionalDetails


def test_code_value_equality_and_hash() -> None:
    a = LifecycleValue.parse("More Info Required")
    b = LifecycleValue.parse("NeedsAdditionalDetails")
    assert a == b and hash(a) == hash(b) and a != LifecycleValue.parse("Active")
    assert CloseCodeValue.parse(CloseCode.Paid).display == "Paid"
    assert {a, b} == {a}


def test_normalise_code() -> None:
    assert (
        normalise_code("Disputed \u2013 Legal Action Declined by Client")
        == "disputedlegalactiondeclinedbyclient"
    )
    assert normalise_code("Debtor Insolvent/Bankrupt") == "debtorinsolventbankrupt"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0, ChatRole.COLLECTION_PARTNER),
        (1, ChatRole.CREDITOR),
        (2, ChatRole.MANAGED_BY_PARTNER),
        ("1", ChatRole.CREDITOR),
    ],
)
def test_chat_role_known(raw: object, expected: ChatRole) -> None:
    chat = Chat.model_validate({**bodies.CHAT, "role": raw})
    assert chat.role is expected and chat.known_role is expected


@pytest.mark.parametrize("raw", [3, 99, -1])
def test_chat_role_unknown_int_is_kept(raw: int) -> None:
    chat = Chat.model_validate({**bodies.CHAT, "role": raw})
    assert chat.role == raw and not isinstance(chat.role, ChatRole) and chat.known_role is None


def test_chat_role_labels() -> None:
    assert [r.label for r in ChatRole] == ["Partner", "Creditor", "Managed by partner"]


def test_unknown_fields_are_kept_and_nested_nulls_accepted() -> None:
    body = bodies.case(
        debtor=None,
        creditor=None,
        validation=None,
        assignedUser=None,
        allocationOutstanding=None,
        collectionPartner=None,
        brandNewField={"x": 1},
    )
    case = Case.model_validate(body)
    assert case.model_extra == {"brandNewField": {"x": 1}}
    assert case.debtor is None and case.needs_info is False


def test_missing_optional_fields_parse() -> None:
    case = Case.model_validate({"id": bodies.CASE_ID})
    assert case.lifecycle is None and case.gross_amount is None


def test_money_is_decimal_without_float_noise() -> None:
    case = Case.model_validate_json(json.dumps(bodies.case(grossAmount=0.1, remainder=1335.75)))
    assert case.gross_amount == Decimal("0.1") and case.remainder == Decimal("1335.75")
    assert isinstance(case.interest_fees, Decimal)


def test_case_page_envelope_variants() -> None:
    assert CasePage.model_validate({"page": None, "cases": None}).cases == []
    legacy = CasePage.model_validate({"pageData": bodies.page(2, 3, 10, 10, 25), "cases": []})
    assert legacy.page is not None and legacy.page.total_pages == 3


def test_timeline_fingerprint_is_stable_and_distinguishes_fields() -> None:
    item = TimelineItem.model_validate(TIMELINE_ITEMS[0])
    same = TimelineItem.model_validate({**TIMELINE_ITEMS[0], "date": "2026-03-03T10:00:00+01:00"})
    assert item.fingerprint() == same.fingerprint()
    assert len(item.fingerprint()) == 64
    for field, value in [
        ("date", "2026-03-03T09:00:01Z"),
        ("type", "Other"),
        ("title", "x"),
        ("description", "y"),
        ("actor", {"type": "System", "name": "Mia Jensen"}),
        ("actor", None),
    ]:
        changed = TimelineItem.model_validate({**TIMELINE_ITEMS[0], field: value})
        assert changed.fingerprint() != item.fingerprint(), field


def test_timeline_fingerprint_ignores_unknown_fields() -> None:
    a = TimelineItem.model_validate(TIMELINE_ITEMS[1])
    b = TimelineItem.model_validate({**TIMELINE_ITEMS[1], "extra": "x"})
    assert a.fingerprint() == b.fingerprint()


# ------------------------------------------------------------------ requests


def test_create_payment_request_json() -> None:
    req = CreatePaymentRequest(
        date=datetime(2025, 11, 19, 15, 0), payment_amount="1234.56", payment_recipient="CollectionPartner"
    )
    assert req.to_json() == (
        '{"date":"2025-11-19","paymentAmount":1234.56,"paymentRecipient":"CollectionPartner"}'
    )


def test_create_payment_rules() -> None:
    with pytest.raises(ValidationError, match="commission_payment_status"):
        CreatePaymentRequest(date=date.today(), payment_amount=1, payment_recipient="Creditor")
    with pytest.raises(ValidationError, match="both"):
        CreatePaymentRequest(
            date=date.today(), payment_amount=1, payment_recipient="Platform", payout_creditor=1
        )
    with pytest.raises(ValidationError, match="equal"):
        CreatePaymentRequest(
            date=date.today(),
            payment_amount=10,
            payment_recipient="Platform",
            payout_creditor=5,
            payout_collection_partner=4,
        )
    with pytest.raises(ValidationError):
        CreatePaymentRequest(date=date.today(), payment_amount=0, payment_recipient="Platform")
    with pytest.raises(ValidationError):
        CreatePaymentRequest(date=date.today(), payment_amount=1, payment_recipient="Somebody")
    with pytest.raises(ValidationError):  # unknown fields are typos in a request
        CreatePaymentRequest(date=date.today(), payment_amount=1, payment_recipient="Platform", amount=1)  # type: ignore[call-arg]
    ok = CreatePaymentRequest(
        date=date.today(),
        payment_amount=10,
        payment_recipient="Platform",
        payout_creditor="8.005",
        payout_collection_partner="2",
    )
    assert ok.payout_creditor == Decimal("8.005")


def test_update_payment_refuses_platform() -> None:
    with pytest.raises(ValidationError, match="Creditor or CollectionPartner"):
        UpdatePaymentRequest(date=date.today(), payment_amount=1, payment_recipient="Platform")


def test_update_fees_requires_all_three_fees() -> None:
    with pytest.raises(ValidationError):
        UpdateFeesRequest.model_validate({"interestFees": 1, "reminderFees": 2})
    with pytest.raises(ValidationError):
        UpdateFeesRequest(interest_fees=-1, reminder_fees=2, collection_fees=3)
    with pytest.raises(ValidationError, match="not both"):
        UpdateFeesRequest(
            interest_fees=1,
            reminder_fees=2,
            collection_fees=3,
            confirm_price_change=True,
            keep_intentional_rate=True,
        )
    req = UpdateFeesRequest(interest_fees=Decimal("1.10"), reminder_fees=2, collection_fees=3)
    assert req.to_dict() == {"interestFees": 1.1, "reminderFees": 2, "collectionFees": 3}


def test_price_change_confirmation_needs_a_request() -> None:
    gate = PriceChangeRequired.model_validate(bodies.PRICE_CHANGE)
    with pytest.raises(ValueError, match="original"):
        gate.confirmation()
    req = UpdateFeesRequest(interest_fees=1, reminder_fees=2, collection_fees=3)
    assert gate.confirmation(req).to_dict()["confirmPriceChange"] is True
    assert "request" not in gate.model_dump()


def test_close_case_request_accepts_display_or_name_and_refuses_system_codes() -> None:
    assert CloseCaseRequest(close_code="Partially paid").to_dict() == {"closeCode": "PartiallyPaid"}
    assert CloseCaseRequest(close_code=CloseCode.Other, comment="x").to_dict() == {
        "closeCode": "Other",
        "comment": "x",
    }
    with pytest.raises(ValidationError, match="set by Debitura"):
        CloseCaseRequest(close_code="Case never started")
    with pytest.raises(ValidationError, match="unknown close code"):
        CloseCaseRequest(close_code="Gone fishing")
    with pytest.raises(ValidationError):
        CloseCaseRequest(close_code="Other", comment="c" * 2001)
    assert len(SETTABLE_CLOSE_CODES) == 12
    assert CloseCode.UneconomicalToPursue.settable and not CloseCode.NoQuotesReceived.settable


def test_chat_and_start_need_a_user() -> None:
    with pytest.raises(ValidationError, match="user_email"):
        SendChatRequest(message="hi")
    with pytest.raises(ValidationError):
        SendChatRequest(message="   ", user_email="a@b.c")
    with pytest.raises(ValidationError):
        SendChatRequest(message="x" * 10_001, user_email="a@b.c")
    with pytest.raises(ValidationError, match="user_email"):
        StartCaseRequest(welcome_message="Hello")
    assert SendChatRequest(message="hi", user_id="u1").to_dict() == {"message": "hi", "userId": "u1"}


def test_note_event_date_not_in_future() -> None:
    with pytest.raises(ValidationError, match="future"):
        CreateNoteRequest(description="x", event_date=datetime.now(UTC) + timedelta(days=1))
    note = CreateNoteRequest(description="x", event_date=datetime(2025, 11, 14, 9, 30, tzinfo=UTC))
    assert note.to_dict() == {"description": "x", "eventDate": "2025-11-14T09:30:00Z"}


def test_populate_by_alias_or_name() -> None:
    a = UpdateFeesRequest.model_validate({"interestFees": 1, "reminderFees": 2, "collectionFees": 3})
    b = UpdateFeesRequest(interest_fees=1, reminder_fees=2, collection_fees=3)
    assert a == b


def test_webhook_request_url_must_be_http() -> None:
    with pytest.raises(ValidationError):
        CreateWebhookRequest(url="ftp://x", events=["case.updated"])
    with pytest.raises(ValidationError):
        CreateWebhookRequest(url="https://x.example", events=[])
