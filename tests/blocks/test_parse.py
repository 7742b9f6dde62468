"""The form parsers: every rule of every write modal, and the errors keyed by block_id."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from blocks.ids import Action, Block, Element
from blocks.parse import (
    NO_DOCUMENT_TYPE,
    OPTION_CLOSE_CASE,
    OPTION_FOLLOW_UP,
    OPTION_REOPEN,
    UPLOAD_MAX_BYTES,
    ActivateForm,
    ChatForm,
    CloseForm,
    CommissionStatus,
    FeesForm,
    FormErrors,
    NoteForm,
    PaymentBalance,
    PaymentEditForm,
    PaymentForm,
    PaymentsSummary,
    PickCaseForm,
    Recipient,
    UploadForm,
    form_fingerprint,
    parse_activate_form,
    parse_amount,
    parse_chat_form,
    parse_close_form,
    parse_fees_form,
    parse_note_form,
    parse_payment_edit_form,
    parse_payment_form,
    parse_pick_case_form,
    parse_reopen_choice,
    parse_upload_form,
)

NOW = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
TODAY = NOW.date()
BALANCE = PaymentBalance(remainder=Decimal("250.00"), currency="EUR")


# --- state builders (what Slack sends in view.state.values) ---------------------------------------


def text(value: str | None, action_id: str = Element.VALUE) -> dict[str, Any]:
    return {action_id: {"type": "plain_text_input", "value": value}}


def select(value: str | None, action_id: str = Element.VALUE) -> dict[str, Any]:
    option = None if value is None else {"value": value, "text": {"type": "plain_text", "text": value}}
    return {action_id: {"type": "static_select", "selected_option": option}}


def checks(*values: str) -> dict[str, Any]:
    return {Element.VALUE: {"type": "checkboxes", "selected_options": [{"value": v} for v in values]}}


def day(value: str | None) -> dict[str, Any]:
    return {Element.VALUE: {"type": "datepicker", "selected_date": value}}


def clock(value: str | None, timezone: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"type": "timepicker", "selected_time": value}
    if timezone:
        state["timezone"] = timezone
    return {Element.VALUE: state}


def files(*items: dict[str, Any]) -> dict[str, Any]:
    return {Element.VALUE: {"type": "file_input", "files": list(items)}}


def payment_values(
    amount: str = "100.00",
    recipient: str | None = "CollectionPartner",
    commission: str | None = None,
    pay_date: str | None = "2026-11-20",
    creditor: str | None = None,
    partner: str | None = None,
    options: tuple[str, ...] = (OPTION_FOLLOW_UP,),
) -> dict[str, Any]:
    values: dict[str, Any] = {
        Block.PAY_DATE: day(pay_date),
        Block.PAY_AMOUNT: text(amount, Action.PAYMENT_AMOUNT_CHANGED),
        Block.PAY_RECIPIENT: select(recipient, Action.RECIPIENT_CHANGED),
        Block.PAY_PAYOUT_CREDITOR: text(creditor),
        Block.PAY_PAYOUT_PARTNER: text(partner),
        Block.PAY_OPTIONS: checks(*options),
    }
    if commission is not None:
        values[Block.PAY_COMMISSION] = select(commission)
    return values


def errors_of(result: object) -> dict[str, str]:
    assert isinstance(result, FormErrors), result
    return dict(result)


# --- amounts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("250", Decimal("250.00")),
        ("250.5", Decimal("250.50")),
        ("0.01", Decimal("0.01")),
        (" 1 234.56 ", Decimal("1234.56")),
        ("+3", Decimal("3.00")),
        ("1.500", Decimal("1.50")),
        ("999999999999.99", Decimal("999999999999.99")),
    ],
)
def test_parse_amount_accepts(raw: str, expected: Decimal) -> None:
    assert parse_amount(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "required"),
        ("1,5", "dot for decimals"),
        ("1,234.50", "dot for decimals"),
        ("0.001", "two decimals"),
        ("12.345", "two decimals"),
        ("-5", "at least 0.01"),
        ("0", "at least 0.01"),
        ("0.00", "at least 0.01"),
        ("abc", "number"),
        ("1e5", "number"),
        ("NaN", "number"),
        ("Infinity", "number"),
        ("12.", "number"),
        (".5", "number"),
        ("€5", "number"),
        ("1000000000000", "too large"),
    ],
)
def test_parse_amount_refuses(raw: str, fragment: str) -> None:
    result = parse_amount(raw)
    assert isinstance(result, str)
    assert fragment in result


def test_parse_amount_zero_allowed_for_fees() -> None:
    assert parse_amount("0", minimum=Decimal(0)) == Decimal("0.00")
    assert "negative" in str(parse_amount("-1", minimum=Decimal(0)))


# --- note ----------------------------------------------------------------------------------------


def test_parse_note_text_only() -> None:
    assert parse_note_form({Block.NOTE_TEXT: text("  Called the debtor  ")}, now=NOW) == NoteForm(
        text="Called the debtor", event_date=None
    )


@pytest.mark.parametrize("value", [None, "", "   \n "])
def test_parse_note_requires_text(value: str | None) -> None:
    assert Block.NOTE_TEXT in errors_of(parse_note_form({Block.NOTE_TEXT: text(value)}, now=NOW))


def test_parse_note_text_over_3000_refused() -> None:
    errors = errors_of(parse_note_form({Block.NOTE_TEXT: text("x" * 3001)}, now=NOW))
    assert "3,000" in errors[Block.NOTE_TEXT]
    assert isinstance(parse_note_form({Block.NOTE_TEXT: text("x" * 3000)}, now=NOW), NoteForm)


def test_parse_note_date_and_time_in_the_past() -> None:
    form = parse_note_form(
        {Block.NOTE_TEXT: text("n"), Block.NOTE_DATE: day("2026-11-20"), Block.NOTE_TIME: clock("09:15")},
        now=NOW,
    )
    assert isinstance(form, NoteForm)
    assert form.event_date == datetime(2026, 11, 20, 9, 15, tzinfo=UTC)


def test_parse_note_date_alone_means_midday_or_now() -> None:
    past = parse_note_form({Block.NOTE_TEXT: text("n"), Block.NOTE_DATE: day("2026-11-20")}, now=NOW)
    assert isinstance(past, NoteForm) and past.event_date == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    early = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    today = parse_note_form({Block.NOTE_TEXT: text("n"), Block.NOTE_DATE: day("2026-11-26")}, now=early)
    assert isinstance(today, NoteForm) and today.event_date == early


def test_parse_note_time_alone_means_today() -> None:
    form = parse_note_form({Block.NOTE_TEXT: text("n"), Block.NOTE_TIME: clock("07:00")}, now=NOW)
    assert isinstance(form, NoteForm) and form.event_date == datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def test_parse_note_future_date_refused() -> None:
    errors = errors_of(
        parse_note_form({Block.NOTE_TEXT: text("n"), Block.NOTE_DATE: day("2026-11-27")}, now=NOW)
    )
    assert "future" in errors[Block.NOTE_DATE]


def test_parse_note_future_time_today_refused() -> None:
    errors = errors_of(
        parse_note_form(
            {Block.NOTE_TEXT: text("n"), Block.NOTE_DATE: day("2026-11-26"), Block.NOTE_TIME: clock("11:45")},
            now=NOW,
        )
    )
    assert "future" in errors[Block.NOTE_TIME]


def test_parse_note_uses_the_users_time_zone() -> None:
    # 10:30 UTC is 23:30 in Auckland (UTC+13 in November): 23:00 there today is in the past.
    auckland = ZoneInfo("Pacific/Auckland")
    form = parse_note_form(
        {Block.NOTE_TEXT: text("n"), Block.NOTE_DATE: day("2026-11-26"), Block.NOTE_TIME: clock("23:00")},
        now=NOW,
        tz=auckland,
    )
    assert isinstance(form, NoteForm)
    assert form.event_date == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    # ...and the 27th is already "today" there, while it is the future in UTC.
    tomorrow = parse_note_form(
        {Block.NOTE_TEXT: text("n"), Block.NOTE_DATE: day("2026-11-27")}, now=NOW, tz=auckland
    )
    assert isinstance(tomorrow, FormErrors)
    tz_from_picker = parse_note_form(
        {Block.NOTE_TEXT: text("n"), Block.NOTE_TIME: clock("23:00", "Pacific/Auckland")}, now=NOW
    )
    assert isinstance(tz_from_picker, NoteForm)


def test_parse_note_reports_text_and_date_together() -> None:
    errors = errors_of(
        parse_note_form({Block.NOTE_TEXT: text(""), Block.NOTE_DATE: day("2030-01-01")}, now=NOW)
    )
    assert set(errors) == {Block.NOTE_TEXT, Block.NOTE_DATE}


def test_parse_note_malformed_date_and_time() -> None:
    assert Block.NOTE_DATE in errors_of(
        parse_note_form({Block.NOTE_TEXT: text("n"), Block.NOTE_DATE: day("26/11/2026")}, now=NOW)
    )
    assert Block.NOTE_TIME in errors_of(
        parse_note_form({Block.NOTE_TEXT: text("n"), Block.NOTE_TIME: clock("25:99")}, now=NOW)
    )


# --- payment -------------------------------------------------------------------------------------


def test_parse_payment_minimal() -> None:
    form = parse_payment_form(payment_values(), today=TODAY, balance=BALANCE)
    assert form == PaymentForm(
        date=date(2026, 11, 20),
        amount=Decimal("100.00"),
        recipient=Recipient.COLLECTION_PARTNER,
        commission=None,
        follow_up=True,
    )


def test_parse_payment_follow_up_can_be_switched_off() -> None:
    form = parse_payment_form(payment_values(options=()), today=TODAY, balance=BALANCE)
    assert isinstance(form, PaymentForm) and form.follow_up is False


@pytest.mark.parametrize("amount", ["1,5", "0.001", "-10", "0", "", "ten"])
def test_parse_payment_bad_amounts(amount: str) -> None:
    errors = errors_of(parse_payment_form(payment_values(amount=amount), today=TODAY, balance=BALANCE))
    assert set(errors) == {Block.PAY_AMOUNT}


def test_parse_payment_future_date_refused_today_accepted() -> None:
    errors = errors_of(
        parse_payment_form(payment_values(pay_date="2026-11-27"), today=TODAY, balance=BALANCE)
    )
    assert "future" in errors[Block.PAY_DATE]
    assert isinstance(
        parse_payment_form(payment_values(pay_date="2026-11-26"), today=TODAY, balance=BALANCE), PaymentForm
    )


def test_parse_payment_date_required() -> None:
    errors = errors_of(parse_payment_form(payment_values(pay_date=None), today=TODAY, balance=BALANCE))
    assert Block.PAY_DATE in errors


def test_parse_payment_recipient_required_and_known() -> None:
    assert Block.PAY_RECIPIENT in errors_of(
        parse_payment_form(payment_values(recipient=None), today=TODAY, balance=BALANCE)
    )
    assert Block.PAY_RECIPIENT in errors_of(
        parse_payment_form(payment_values(recipient="Debtor"), today=TODAY, balance=BALANCE)
    )


def test_parse_payment_commission_required_for_creditor() -> None:
    errors = errors_of(parse_payment_form(payment_values(recipient="Creditor"), today=TODAY, balance=BALANCE))
    assert set(errors) == {Block.PAY_COMMISSION}
    form = parse_payment_form(
        payment_values(recipient="Creditor", commission="Unpaid"), today=TODAY, balance=BALANCE
    )
    assert isinstance(form, PaymentForm) and form.commission is CommissionStatus.UNPAID


def test_parse_payment_commission_dropped_for_other_recipients() -> None:
    form = parse_payment_form(
        payment_values(recipient="Platform", commission="Unpaid"), today=TODAY, balance=BALANCE
    )
    assert isinstance(form, PaymentForm) and form.commission is None and form.recipient is Recipient.PLATFORM


def test_parse_payment_split_both_or_neither() -> None:
    only_one = errors_of(parse_payment_form(payment_values(creditor="60"), today=TODAY, balance=BALANCE))
    assert "both" in only_one[Block.PAY_PAYOUT_PARTNER]
    only_other = errors_of(parse_payment_form(payment_values(partner="60"), today=TODAY, balance=BALANCE))
    assert "both" in only_other[Block.PAY_PAYOUT_CREDITOR]


@pytest.mark.parametrize(
    ("creditor", "partner", "ok"),
    [
        ("60", "40", True),
        ("60.00", "40.01", True),  # within 0.01
        ("59.99", "40", True),
        ("60", "40.02", False),
        ("50", "40", False),
        ("100", "0", True),
        ("0", "100", True),
    ],
)
def test_parse_payment_split_must_sum_to_amount(creditor: str, partner: str, ok: bool) -> None:
    result = parse_payment_form(
        payment_values(creditor=creditor, partner=partner), today=TODAY, balance=BALANCE
    )
    if ok:
        assert isinstance(result, PaymentForm)
        assert result.payout_creditor == Decimal(creditor).quantize(Decimal("0.01"))
    else:
        assert "add up" in errors_of(result)[Block.PAY_PAYOUT_PARTNER]


def test_parse_payment_split_values_checked() -> None:
    errors = errors_of(
        parse_payment_form(payment_values(creditor="1,5", partner="-1"), today=TODAY, balance=BALANCE)
    )
    assert set(errors) == {Block.PAY_PAYOUT_CREDITOR, Block.PAY_PAYOUT_PARTNER}


def test_parse_payment_close_only_when_it_settles() -> None:
    settles = parse_payment_form(
        payment_values(amount="250", options=(OPTION_CLOSE_CASE,)), today=TODAY, balance=BALANCE
    )
    assert isinstance(settles, PaymentForm) and settles.close_case is True
    partial = errors_of(
        parse_payment_form(
            payment_values(amount="249.99", options=(OPTION_CLOSE_CASE,)), today=TODAY, balance=BALANCE
        )
    )
    assert "250.00 EUR outstanding" in partial[Block.PAY_OPTIONS]
    nothing_due = errors_of(
        parse_payment_form(
            payment_values(amount="5", options=(OPTION_CLOSE_CASE,)),
            today=TODAY,
            balance=PaymentBalance(remainder=Decimal(0)),
        )
    )
    assert "nothing outstanding" in nothing_due[Block.PAY_OPTIONS]


def test_parse_payment_reports_every_error_at_once() -> None:
    errors = errors_of(
        parse_payment_form(
            payment_values(amount="0.001", recipient="Creditor", pay_date="2030-01-01", creditor="1"),
            today=TODAY,
            balance=BALANCE,
        )
    )
    assert {Block.PAY_AMOUNT, Block.PAY_COMMISSION, Block.PAY_DATE, Block.PAY_PAYOUT_PARTNER} <= set(errors)


def test_parse_payment_normalised_is_stable() -> None:
    a = parse_payment_form(payment_values(amount="100"), today=TODAY, balance=BALANCE)
    b = parse_payment_form(payment_values(amount="100.00"), today=TODAY, balance=BALANCE)
    assert isinstance(a, PaymentForm) and isinstance(b, PaymentForm)
    assert a.normalised() == b.normalised()
    assert a.normalised()["amount"] == "100.00"


def test_parse_payment_edit_refuses_platform_and_round_trips() -> None:
    errors = errors_of(parse_payment_edit_form(payment_values(recipient="Platform"), today=TODAY))
    assert Block.PAY_RECIPIENT in errors
    form = parse_payment_edit_form(
        payment_values(recipient="Creditor", commission="Paid", creditor="70", partner="30"), today=TODAY
    )
    assert isinstance(form, PaymentEditForm)
    assert PaymentEditForm.from_normalised(form.normalised()) == form
    with pytest.raises(ValueError):
        PaymentEditForm.from_normalised({"date": "x"})


def test_parse_reopen_choice() -> None:
    assert parse_reopen_choice({Block.PAY_REOPEN: checks(OPTION_REOPEN)}) is True
    assert parse_reopen_choice({Block.PAY_REOPEN: checks()}) is False
    assert parse_reopen_choice({}) is False


# --- chat and upload -----------------------------------------------------------------------------


def test_parse_chat() -> None:
    assert parse_chat_form({Block.CHAT_TEXT: text(" Hello ")}) == ChatForm(text="Hello")
    assert Block.CHAT_TEXT in errors_of(parse_chat_form({Block.CHAT_TEXT: text("")}))
    assert "3,000" in errors_of(parse_chat_form({Block.CHAT_TEXT: text("x" * 3001)}))[Block.CHAT_TEXT]


def test_parse_upload_ok() -> None:
    form = parse_upload_form(
        {
            Block.UPLOAD_FILE: files({"id": "F1", "name": "Invoice.PDF", "size": 1000}),
            Block.UPLOAD_TYPE: select("OriginalInvoice"),
            Block.UPLOAD_DESCRIPTION: text("the invoice"),
        }
    )
    assert form == UploadForm(
        file_id="F1",
        filename="Invoice.PDF",
        size=1000,
        document_type="OriginalInvoice",
        description="the invoice",
    )


def test_parse_upload_no_type_means_uncategorised() -> None:
    form = parse_upload_form(
        {Block.UPLOAD_FILE: files({"id": "F1", "name": "a.eml"}), Block.UPLOAD_TYPE: select(NO_DOCUMENT_TYPE)}
    )
    assert isinstance(form, UploadForm) and form.document_type is None and form.size is None


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ({"id": "F1", "name": "virus.exe", "size": 10}, ".pdf"),
        ({"id": "F1", "name": "noext", "size": 10}, ".pdf"),
        ({"id": "F1", "name": "big.pdf", "size": UPLOAD_MAX_BYTES + 1}, "25 MB"),
        ({"id": "F1", "name": "empty.pdf", "size": 0}, "empty"),
        ({"name": "a.pdf"}, "attach it again"),
    ],
)
def test_parse_upload_file_refused(item: dict[str, Any], fragment: str) -> None:
    errors = errors_of(parse_upload_form({Block.UPLOAD_FILE: files(item)}))
    assert fragment in errors[Block.UPLOAD_FILE]


def test_parse_upload_exactly_25_mb_accepted() -> None:
    form = parse_upload_form(
        {Block.UPLOAD_FILE: files({"id": "F1", "name": "a.zip", "size": UPLOAD_MAX_BYTES})}
    )
    assert isinstance(form, UploadForm)


def test_parse_upload_missing_or_many_files_and_long_description() -> None:
    assert Block.UPLOAD_FILE in errors_of(parse_upload_form({Block.UPLOAD_FILE: files()}))
    assert Block.UPLOAD_FILE in errors_of(parse_upload_form({}))
    two = files({"id": "F1", "name": "a.pdf"}, {"id": "F2", "name": "b.pdf"})
    assert "one file" in errors_of(parse_upload_form({Block.UPLOAD_FILE: two}))[Block.UPLOAD_FILE]
    errors = errors_of(
        parse_upload_form(
            {
                Block.UPLOAD_FILE: files({"id": "F1", "name": "a.pdf"}),
                Block.UPLOAD_DESCRIPTION: text("d" * 501),
                Block.UPLOAD_TYPE: select("Contract"),
            }
        )
    )
    assert set(errors) == {Block.UPLOAD_DESCRIPTION, Block.UPLOAD_TYPE}


# --- close ---------------------------------------------------------------------------------------


def test_parse_close_plain_code() -> None:
    assert parse_close_form({Block.CLOSE_CODE: select("DebtorUntraceable")}) == CloseForm(
        close_code="DebtorUntraceable", comment=None
    )


def test_parse_close_other_needs_comment() -> None:
    errors = errors_of(parse_close_form({Block.CLOSE_CODE: select("Other"), Block.CLOSE_COMMENT: text(" ")}))
    assert "required" in errors[Block.CLOSE_COMMENT]
    form = parse_close_form({Block.CLOSE_CODE: select("Other"), Block.CLOSE_COMMENT: text("Debtor died")})
    assert form == CloseForm(close_code="Other", comment="Debtor died")


def test_parse_close_comment_limit_and_unknown_code() -> None:
    errors = errors_of(
        parse_close_form(
            {Block.CLOSE_CODE: select("CaseNeverStarted"), Block.CLOSE_COMMENT: text("c" * 2001)}
        )
    )
    assert set(errors) == {Block.CLOSE_CODE, Block.CLOSE_COMMENT}
    assert Block.CLOSE_CODE in errors_of(parse_close_form({}))


@pytest.mark.parametrize(
    ("code", "count", "remainder", "ok"),
    [
        ("Paid", 0, "0", False),
        ("Paid", 2, "10.00", False),
        ("Paid", 2, "0", True),
        ("PartiallyPaid", 0, "100", False),
        ("PartiallyPaid", 1, "100", True),
        ("PartiallyPaid", 1, "0", False),
        ("WithdrawnByClient", 0, "100", True),
    ],
)
def test_parse_close_payment_preconditions(code: str, count: int, remainder: str, ok: bool) -> None:
    summary = PaymentsSummary(count=count, total=Decimal(50 * count), remainder=Decimal(remainder))
    result = parse_close_form({Block.CLOSE_CODE: select(code)}, payments=summary)
    if ok:
        assert isinstance(result, CloseForm)
    else:
        assert Block.CLOSE_CODE in errors_of(result)


def test_parse_close_without_known_payments_leaves_it_to_debitura() -> None:
    assert isinstance(parse_close_form({Block.CLOSE_CODE: select("Paid")}), CloseForm)


# --- activate and fees ---------------------------------------------------------------------------


def test_parse_activate_full() -> None:
    form = parse_activate_form(
        {
            Block.ACT_WELCOME: text("Welcome aboard"),
            Block.ACT_REFERENCE: text("INV-1"),
            Block.ACT_ASSIGNEE: select("Jane@Example.com"),
            Block.FEE_INTEREST: text("1.5"),
            Block.FEE_REMINDER: text(""),
            Block.FEE_COLLECTION: text("0"),
        },
        user_emails={"jane@example.com"},
    )
    assert form == ActivateForm(
        welcome_message="Welcome aboard",
        partner_reference="INV-1",
        assigned_user_email="Jane@Example.com",
        interest_fees=Decimal("1.50"),
        reminder_fees=Decimal("0.00"),
        collection_fees=Decimal("0.00"),
    )


def test_parse_activate_errors() -> None:
    errors = errors_of(
        parse_activate_form(
            {
                Block.ACT_WELCOME: text(""),
                Block.ACT_REFERENCE: text("r" * 129),
                Block.ACT_ASSIGNEE: select("gone@example.com"),
                Block.FEE_INTEREST: text("-1"),
                Block.FEE_REMINDER: text("1,5"),
                Block.FEE_COLLECTION: text("0.001"),
            },
            user_emails={"jane@example.com"},
        )
    )
    assert set(errors) == {
        Block.ACT_WELCOME,
        Block.ACT_REFERENCE,
        Block.ACT_ASSIGNEE,
        Block.FEE_INTEREST,
        Block.FEE_REMINDER,
        Block.FEE_COLLECTION,
    }


def test_parse_fees() -> None:
    form = parse_fees_form(
        {
            Block.FEE_PRINCIPAL: text("1000"),
            Block.FEE_INTEREST: text("10"),
            Block.FEE_REMINDER: text(""),
            Block.FEE_COLLECTION: text("5.5"),
        }
    )
    assert form == FeesForm(
        principal=Decimal("1000.00"),
        interest_fees=Decimal("10.00"),
        reminder_fees=Decimal("0.00"),
        collection_fees=Decimal("5.50"),
    )
    assert isinstance(form, FeesForm)
    assert FeesForm.from_normalised(form.normalised()) == form


def test_parse_fees_errors() -> None:
    errors = errors_of(parse_fees_form({Block.FEE_PRINCIPAL: text("0"), Block.FEE_INTEREST: text("x")}))
    assert set(errors) == {Block.FEE_PRINCIPAL, Block.FEE_INTEREST}
    with pytest.raises(ValueError):
        FeesForm.from_normalised({"principal": "1"})


# --- pick a case ---------------------------------------------------------------------------------


def test_parse_pick_case() -> None:
    form = parse_pick_case_form(
        {Block.PICK_CASE: text(" Q8OAXF3W "), Block.NOTE_TEXT: text("from Slack")}, now=NOW
    )
    assert form == PickCaseForm(ref="Q8OAXF3W", note=NoteForm(text="from Slack"))
    errors = errors_of(
        parse_pick_case_form({Block.PICK_CASE: text("two words"), Block.NOTE_TEXT: text("")}, now=NOW)
    )
    assert set(errors) == {Block.PICK_CASE, Block.NOTE_TEXT}
    assert Block.PICK_CASE in errors_of(parse_pick_case_form({Block.NOTE_TEXT: text("n")}, now=NOW))


# --- the digest behind derived idempotency keys --------------------------------------------------


def test_form_fingerprint_same_form_same_digest() -> None:
    values = {"amount": "1.00", "date": "2026-11-20"}
    a = form_fingerprint("payment", "V1", "C1", values)
    assert a == form_fingerprint("payment", "V1", "C1", dict(reversed(list(values.items()))))
    assert a != form_fingerprint("payment", "V2", "C1", values)
    assert a != form_fingerprint("payment", "V1", "C2", values)
    assert a != form_fingerprint("payment", "V1", "C1", {**values, "amount": "1.01"})
    assert a != form_fingerprint("chat", "V1", "C1", values)
    assert len(a) == 64


def test_parse_note_far_past_is_fine() -> None:
    form = parse_note_form(
        {Block.NOTE_TEXT: text("n"), Block.NOTE_DATE: day("2001-01-01")}, now=NOW + timedelta(days=1)
    )
    assert isinstance(form, NoteForm) and form.event_date is not None and form.event_date.year == 2001


def test_a_long_note_goes_on_in_the_continued_fields_up_to_the_api_limit() -> None:
    parts = {Block.NOTE_TEXT: text("a" * 3000), Block.NOTE_TEXT_2: text("b" * 3000),
             Block.NOTE_TEXT_3: text("c" * 3000), Block.NOTE_TEXT_4: text("d" * 997)}
    form = parse_note_form(parts, now=NOW)
    assert isinstance(form, NoteForm)
    assert len(form.text) == 10_000  # three line breaks join the four fields: nothing cut
    assert form.text == "\n".join(["a" * 3000, "b" * 3000, "c" * 3000, "d" * 997])
    over = {**parts, Block.NOTE_TEXT_4: text("d" * 998)}
    errors = errors_of(parse_note_form(over, now=NOW))
    assert "10,000" in errors[Block.NOTE_TEXT] and "10,001" in errors[Block.NOTE_TEXT]


def test_a_continued_field_alone_is_not_a_note() -> None:
    values = {Block.NOTE_TEXT: text(""), Block.NOTE_TEXT_3: text("later")}
    errors = errors_of(parse_note_form(values, now=NOW))
    assert errors[Block.NOTE_TEXT] == "Write the note here first."
    errors = errors_of(parse_note_form({Block.NOTE_TEXT: text("x"), Block.NOTE_TEXT_2: text("y" * 3001)},
                                       now=NOW))
    assert "go on in the next" in errors[Block.NOTE_TEXT_2]
