"""Block Kit builders of the write modals (pure functions of their arguments).

Every modal: a `Callback.*` callback_id, title / submit / close within 24 characters, input blocks
with `Block.*` ids holding one element each (action_id `Element.VALUE`, or the dispatch action id for
the payment amount and recipient), and a `ModalContext` in `private_metadata` that says which case,
channel and user the modal is about. Texts from the API are escaped (`esc`) before they reach mrkdwn.

Views that need data first open as `build_loading_view()` and are replaced with `views.update`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from blocks.ids import Action, Block, Callback, Element
from blocks.metadata import ModalContext
from blocks.parse import (
    CHAT_API_MAX,
    CLOSE_CODES,
    CLOSE_COMMENT_MAX,
    COMMISSION_LABELS,
    DOCUMENT_TYPES,
    NO_DOCUMENT_TYPE,
    NOTE_API_MAX,
    NOTE_PARTS,
    OPTION_CLOSE_CASE,
    OPTION_FOLLOW_UP,
    OPTION_REOPEN,
    PARTNER_REFERENCE_MAX,
    RECIPIENT_LABELS,
    SLACK_INPUT_MAX,
    UPLOAD_DESCRIPTION_MAX,
    UPLOAD_EXTENSIONS,
    UPLOAD_MAX_MB,
    WELCOME_API_MAX,
    CommissionStatus,
    Recipient,
)
from blocks.text import context, divider, esc, esc_trunc, format_amount, format_money, plain, section

View = dict[str, Any]
Element_ = dict[str, Any]

MAX_TITLE = 24
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_LABEL = 2000
MAX_PLACEHOLDER = 150
AMOUNT_TRIGGERS = ("on_enter_pressed", "on_character_entered")
UPLOAD_HINT = (f"One file, at most {UPLOAD_MAX_MB} MB: " + " ".join(UPLOAD_EXTENSIONS)
               + ". The creditor can see it.")

# --- modal and input helpers ---------------------------------------------------------------------


def modal(callback: Callback, title: str, blocks: list[dict[str, Any]], *, ctx: ModalContext | None = None,
          submit: str | None = None, close: str = "Cancel", notify_on_close: bool = False) -> View:
    """A modal view; title/submit/close are cut to Slack's 24 characters."""
    view: View = {
        "type": "modal",
        "callback_id": str(callback),
        "title": plain(title, MAX_TITLE),
        "close": plain(close, MAX_TITLE),
        "blocks": blocks,
    }
    if submit is not None:
        view["submit"] = plain(submit, MAX_TITLE)
    if ctx is not None:
        view["private_metadata"] = ctx.encode_metadata()
    if notify_on_close:
        view["notify_on_close"] = True
    return view


def option(value: str, text: str, description: str | None = None) -> dict[str, Any]:
    if len(value) > MAX_OPTION_VALUE:
        raise ValueError(f"option value is {len(value)} characters; Slack allows {MAX_OPTION_VALUE}")
    opt: dict[str, Any] = {"text": plain(text, MAX_OPTION_TEXT), "value": value}
    if description:
        opt["description"] = plain(description, MAX_OPTION_TEXT)
    return opt


def input_block(block: Block, label: str, element: Element_, *, optional: bool = False,
                hint: str | None = None, dispatch: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "input", "block_id": str(block), "label": plain(label, MAX_LABEL),
                           "element": element, "optional": optional}
    if hint:
        out["hint"] = plain(hint, MAX_LABEL)
    if dispatch:
        out["dispatch_action"] = True
    return out


def text_element(*, action_id: str = Element.VALUE, multiline: bool = False, max_length: int | None = None,
                 initial: str | None = None, placeholder: str | None = None,
                 dispatch_on: Sequence[str] | None = None) -> Element_:
    el: Element_ = {"type": "plain_text_input", "action_id": str(action_id), "multiline": multiline}
    if max_length is not None:
        el["max_length"] = max_length
    if initial:
        el["initial_value"] = initial[:max_length] if max_length else initial
    if placeholder:
        el["placeholder"] = plain(placeholder, MAX_PLACEHOLDER)
    if dispatch_on:
        el["dispatch_action_config"] = {"trigger_actions_on": list(dispatch_on)}
    return el


def select_element(options: Sequence[dict[str, Any]], *, action_id: str = Element.VALUE,
                   initial: str | None = None, placeholder: str = "Choose…") -> Element_:
    if not options:
        raise ValueError("a static_select needs at least one option")
    if len(options) > MAX_OPTIONS:
        raise ValueError(f"{len(options)} options; a static_select holds {MAX_OPTIONS}")
    el: Element_ = {"type": "static_select", "action_id": str(action_id), "options": list(options),
                    "placeholder": plain(placeholder, MAX_PLACEHOLDER)}
    chosen = next((o for o in options if o["value"] == initial), None) if initial is not None else None
    if chosen is not None:
        el["initial_option"] = chosen
    return el


def checkboxes_element(options: Sequence[dict[str, Any]], *, initial: Iterable[str] = ()) -> Element_:
    el: Element_ = {"type": "checkboxes", "action_id": str(Element.VALUE), "options": list(options)}
    wanted = set(initial)
    chosen = [o for o in options if o["value"] in wanted]
    if chosen:
        el["initial_options"] = chosen
    return el


def date_element(initial: date | None = None) -> Element_:
    el: Element_ = {"type": "datepicker", "action_id": str(Element.VALUE)}
    if initial is not None:
        el["initial_date"] = initial.isoformat()
    return el


def time_element(*, timezone: str | None = None) -> Element_:
    el: Element_ = {"type": "timepicker", "action_id": str(Element.VALUE)}
    if timezone:
        el["timezone"] = timezone
    return el


def amount_text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


# --- case context shown on top of every form -----------------------------------------------------

@dataclass(frozen=True, slots=True)
class CaseSummary:
    """What a form shows about its case (from bot.debitura.models.Case, flattened by the caller)."""

    reference: str
    debtor: str | None = None
    currency: str | None = None
    remainder: Decimal | None = None


def case_line(case: CaseSummary) -> dict[str, Any]:
    parts = [f"*{esc(case.reference)}*"]
    if case.debtor:
        parts.append(esc_trunc(case.debtor, 500))
    if case.remainder is not None:
        parts.append(f"outstanding {format_money(case.remainder, case.currency)}")
    return context(" · ".join(parts))


# --- status views --------------------------------------------------------------------------------

def build_loading_view(title: str, text: str = "Loading the case from Debitura…") -> View:
    """Opened at once with the trigger_id; replaced with views.update when the data is there."""
    return modal(Callback.RESULT, title, [section(f":hourglass_flowing_sand: {esc(text)}")], close="Close")


def build_working_view(title: str, text: str = "Sending to Debitura…", *, external_id: str | None = None
                       ) -> View:
    """What a submitted form turns into (`response_action: update`) while the write runs.

    `external_id` (unique per workspace) lets the result be shown with views.update once, and only
    once, Slack has put this view in place."""
    view = modal(Callback.RESULT, title, [section(f":hourglass_flowing_sand: {esc(text)}")], close="Close")
    if external_id:
        view["external_id"] = external_id[:255]
    return view


def build_result_view(title: str, text: str, *, warnings: Sequence[str] = (), details: Sequence[str] = (),
                      success: bool = True) -> View:
    """The end of a write: what happened (mrkdwn, already escaped by the caller), plus API warnings."""
    icon = ":white_check_mark:" if success else ":warning:"
    blocks: list[dict[str, Any]] = [section(f"{icon} {text}")]
    for line in details[:20]:
        blocks.append(context(line))
    if warnings:
        blocks.append(divider())
        shown = "\n".join(f"• {esc_trunc(w, 500)}" for w in warnings[:20])
        blocks.append(section(f":warning: *Debitura noted:*\n{shown}"))
    return modal(Callback.RESULT, title, blocks, close="Done")


def build_error_view(title: str, message: str, *, error_id: str | None = None) -> View:
    """An error in words (already escaped by the caller) with the error id that matches the log."""
    blocks: list[dict[str, Any]] = [section(f":x: {message}")]
    if error_id:
        blocks.append(context(f"Error id `{esc(error_id)}` (quote it if you ask for help)"))
    return modal(Callback.RESULT, title, blocks, close="Close")


# --- note -----------------------------------------------------------------------------------------

NOTE_HINT = (f"A Slack field holds {SLACK_INPUT_MAX:,} characters; a note up to {NOTE_API_MAX:,}: go on in "
             "the Continued fields below. Notes are visible to the creditor.")
NOTE_MORE_HINT = "Optional: joined to the note after a line break."


NOTE_BREAK_FROM = SLACK_INPUT_MAX * 9 // 10
"""A field is broken at the last line break or space after this many characters (else cut at the
limit), so four fields always hold a whole note (4 x 2,700 > NOTE_API_MAX)."""


def _split_note(text: str) -> tuple[list[str], str]:
    """(the field values, what is left over when the fields are full)."""
    rest = text
    parts: list[str] = []
    while rest and len(parts) < len(NOTE_PARTS):
        if len(rest) <= SLACK_INPUT_MAX:
            return [*parts, rest], ""
        # Broken at a line break (else a space): parse_note_form joins the fields with a line break,
        # so the note keeps its length; a word cut at the limit gains one line break.
        at = rest.rfind("\n", NOTE_BREAK_FROM, SLACK_INPUT_MAX + 1)
        if at < 0:
            at = rest.rfind(" ", NOTE_BREAK_FROM, SLACK_INPUT_MAX + 1)
        if at > 0:
            parts.append(rest[:at])
            rest = rest[at + 1:]
        else:
            parts.append(rest[:SLACK_INPUT_MAX])
            rest = rest[SLACK_INPUT_MAX:]
    return parts, rest


def split_note(text: str | None) -> list[str]:
    """A long text (a message turned into a note) spread over the note fields; check
    `note_as_submitted` first (anything up to NOTE_API_MAX fits)."""
    return _split_note(text or "")[0]


def note_as_submitted(text: str) -> str | None:
    """`text` as the note form gives it back when it is filled with `split_note(text)` and submitted
    unchanged (the fields joined by parse_note_form), or None when the fields cannot hold it all."""
    parts, rest = _split_note(text)
    return None if rest else "\n".join(parts)


def _note_blocks(initial_text: str | None, timezone: str | None) -> list[dict[str, Any]]:
    initial = split_note(initial_text)
    more = [
        input_block(block, f"Note, continued ({n})",
                    text_element(multiline=True, max_length=SLACK_INPUT_MAX,
                                 initial=initial[n - 1] if len(initial) >= n else None),
                    optional=True, hint=NOTE_MORE_HINT)
        for n, block in enumerate(NOTE_PARTS[1:], start=2)
    ]
    return [
        input_block(Block.NOTE_TEXT, "Note",
                    text_element(multiline=True, max_length=SLACK_INPUT_MAX,
                                 initial=initial[0] if initial else None,
                                 placeholder="What happened on the case?"),
                    hint=NOTE_HINT),
        *more,
        input_block(Block.NOTE_DATE, "Date of the event", date_element(), optional=True,
                    hint="Leave empty for now. Not in the future."),
        input_block(Block.NOTE_TIME, "Time of the event", time_element(timezone=timezone), optional=True,
                    hint="Optional; a date alone means midday that day."),
    ]


def build_note_view(ctx: ModalContext, case: CaseSummary, *, initial_text: str | None = None,
                    timezone: str | None = None) -> View:
    blocks = [case_line(case), *_note_blocks(initial_text, timezone)]
    return modal(Callback.NOTE, "Add note", blocks, ctx=ctx, submit="Add note")


def build_pick_case_view(ctx: ModalContext, *, initial_text: str | None = None,
                         timezone: str | None = None) -> View:
    """The message shortcut outside a case channel: which case, then the note."""
    blocks = [
        input_block(Block.PICK_CASE, "Case",
                    text_element(max_length=200, placeholder="Q8OAXF3W, a case id or partner:<our ref>"),
                    hint="A Debitura reference, a case id, partner:<our reference> or "
                         "creditor:<creditor id>:<their reference>."),
        *_note_blocks(initial_text, timezone),
    ]
    return modal(Callback.PICK_CASE, "Add to case as note", blocks, ctx=ctx, submit="Add note")


# --- payments -------------------------------------------------------------------------------------

def _recipient_options(allowed: Sequence[Recipient]) -> list[dict[str, Any]]:
    return [option(r.value, RECIPIENT_LABELS[r]) for r in allowed]


def _commission_options() -> list[dict[str, Any]]:
    return [option(c.value, COMMISSION_LABELS[c]) for c in CommissionStatus]


def _payment_fields(*, currency: str | None, today: date, allowed: Sequence[Recipient],
                    recipient: Recipient | None, initial_date: date | None = None,
                    initial_amount: Decimal | None = None, initial_commission: CommissionStatus | None = None,
                    dispatch: bool = True) -> list[dict[str, Any]]:
    cur = f" ({currency})" if currency else ""
    blocks = [
        input_block(Block.PAY_DATE, "Date received", date_element(initial_date or today),
                    hint="Not in the future."),
        input_block(Block.PAY_AMOUNT, f"Amount{cur}",
                    text_element(action_id=Action.PAYMENT_AMOUNT_CHANGED if dispatch else Element.VALUE,
                                 max_length=20, initial=amount_text(initial_amount), placeholder="250.00",
                                 dispatch_on=AMOUNT_TRIGGERS if dispatch else None),
                    hint=f"In the case currency{cur}: at least 0.01, a dot for decimals, at most two.",
                    dispatch=dispatch),
        input_block(Block.PAY_RECIPIENT, "Who received it",
                    select_element(_recipient_options(allowed),
                                   action_id=Action.RECIPIENT_CHANGED if dispatch else Element.VALUE,
                                   initial=recipient.value if recipient else None),
                    dispatch=dispatch),
    ]
    if recipient is None or recipient is Recipient.CREDITOR:
        blocks.append(input_block(
            Block.PAY_COMMISSION, "Our commission",
            select_element(_commission_options(),
                           initial=initial_commission.value if initial_commission else None),
            optional=recipient is None,
            hint="Required when the creditor received the payment; otherwise it counts as paid."))
    blocks += [
        input_block(Block.PAY_PAYOUT_CREDITOR, f"Payout to the creditor{cur}",
                    text_element(max_length=20, placeholder="leave empty"), optional=True,
                    hint="Advanced: set both payouts to override Debitura's split (they must add up "
                         "to the amount), or leave both empty."),
        input_block(Block.PAY_PAYOUT_PARTNER, f"Payout to us{cur}",
                    text_element(max_length=20, placeholder="leave empty"), optional=True),
    ]
    return blocks


def build_payment_view(ctx: ModalContext, case: CaseSummary, *, today: date, settles: bool = False,
                       recipient: Recipient | None = None, follow_up: bool = True,
                       close_case: bool = False) -> View:
    """Record a payment. "Close the case" is offered only when the typed amount settles the balance.

    The amount and the recipient dispatch actions: the listener rebuilds the view (views.update with
    the hash) so the close option and the commission field follow what was typed.
    """
    blocks = [case_line(case),
              *_payment_fields(currency=case.currency, today=today, allowed=tuple(Recipient),
                               recipient=recipient)]
    opts = []
    if settles:
        opts.append(option(OPTION_CLOSE_CASE, "Close the case as paid",
                           "This payment settles the outstanding balance"))
    opts.append(option(OPTION_FOLLOW_UP, "Follow up unpaid commission",
                       "Debitura reminds the creditor when our commission is unpaid"))
    initial = [OPTION_FOLLOW_UP] if follow_up else []
    if settles and close_case:
        initial.append(OPTION_CLOSE_CASE)
    blocks.append(input_block(Block.PAY_OPTIONS, "Options", checkboxes_element(opts, initial=initial),
                              optional=True))
    return modal(Callback.PAYMENT, "Record payment", blocks, ctx=ctx, submit="Record payment")


@dataclass(frozen=True, slots=True)
class PaymentInfo:
    """A recorded payment as the edit/delete views show it."""

    id: str
    date: date | None
    amount: Decimal
    currency: str | None
    recipient: str | None = None
    method: str | None = None
    invoice_status: str | None = None


def payment_line(payment: PaymentInfo) -> str:
    bits = [format_money(payment.amount, payment.currency)]
    if payment.date is not None:
        bits.append(f"received {payment.date.isoformat()}")
    if payment.recipient:
        bits.append(f"by {esc_trunc(payment.recipient, 100)}")
    return " ".join(bits)


def build_payment_edit_view(ctx: ModalContext, case: CaseSummary, payment: PaymentInfo, *,
                            today: date) -> View:
    """Edit a payment (step 1 of 2: the form; the confirmation follows)."""
    try:
        recipient: Recipient | None = Recipient(payment.recipient) if payment.recipient else None
    except ValueError:
        recipient = None
    if recipient is Recipient.PLATFORM:
        recipient = None
    blocks = [case_line(case),
              section(f"Changing the payment of {payment_line(payment)}."),
              *_payment_fields(currency=case.currency, today=today,
                               allowed=(Recipient.CREDITOR, Recipient.COLLECTION_PARTNER),
                               recipient=recipient, initial_date=payment.date,
                               initial_amount=payment.amount, dispatch=False)]
    return modal(Callback.PAYMENT_EDIT, "Edit payment", blocks, ctx=ctx, submit="Review change")


def _reopen_block() -> dict[str, Any]:
    return input_block(
        Block.PAY_REOPEN, "Reopen the case",
        checkboxes_element([option(OPTION_REOPEN, "Yes, reopen the case",
                                   "It was closed as paid; it goes back to Active")]),
        optional=True)


def build_payment_edit_confirm_view(ctx: ModalContext, case: CaseSummary, *, before: str, after: str,
                                    needs_reopen: bool = False) -> View:
    """Edit a payment (step 2: confirm). After a 409 it also asks to reopen the case."""
    blocks: list[dict[str, Any]] = [case_line(case), section(f"*Before:* {before}\n*After:* {after}")]
    if needs_reopen:
        blocks += [section(":warning: The case was closed as paid, and this change leaves a balance. "
                           "Debitura will change the payment only if the case is reopened."),
                   _reopen_block()]
    else:
        blocks.append(context("Debitura reverses the payment and applies the new one; the balance is "
                              "recomputed."))
    return modal(Callback.PAYMENT_EDIT, "Confirm change", blocks, ctx=ctx,
                 submit="Reopen and save" if needs_reopen else "Save change", notify_on_close=True)


def build_payment_delete_view(ctx: ModalContext, case: CaseSummary, payment: PaymentInfo, *,
                              needs_reopen: bool = False) -> View:
    """Delete a payment: a confirmation; after a 409 it asks to reopen the case."""
    blocks: list[dict[str, Any]] = [
        case_line(case),
        section(f"Delete the payment of {payment_line(payment)}?\nThe amount goes back on the "
                "outstanding balance. Debitura keeps an audit record of the deletion."),
    ]
    if needs_reopen:
        blocks += [section(":warning: The case was closed as paid, and deleting this payment leaves a "
                           "balance. Debitura will delete it only if the case is reopened."),
                   _reopen_block()]
    return modal(Callback.PAYMENT_DELETE, "Delete payment", blocks, ctx=ctx,
                 submit="Reopen and delete" if needs_reopen else "Delete payment", notify_on_close=True)


# --- chat and upload ------------------------------------------------------------------------------

def build_chat_view(ctx: ModalContext, case: CaseSummary, *, sender: str, initial_text: str | None = None
                    ) -> View:
    blocks = [
        case_line(case),
        input_block(Block.CHAT_TEXT, "Message to the creditor",
                    text_element(multiline=True, max_length=SLACK_INPUT_MAX, initial=initial_text),
                    hint=f"Slack fields hold up to {SLACK_INPUT_MAX:,} characters (Debitura takes "
                         f"{CHAT_API_MAX:,}). The creditor is emailed and gets a task to review it."),
        context(f"Sent as *{esc_trunc(sender, 200)}* (your Debitura account)."),
    ]
    return modal(Callback.CHAT, "Send chat", blocks, ctx=ctx, submit="Send")


def build_upload_view(ctx: ModalContext, case: CaseSummary) -> View:
    types = [option(NO_DOCUMENT_TYPE, "No type (uncategorised)")]
    types += [option(value, label) for value, label in DOCUMENT_TYPES.items()]
    blocks = [
        case_line(case),
        input_block(Block.UPLOAD_FILE, "File",
                    {"type": "file_input", "action_id": str(Element.VALUE), "max_files": 1,
                     "filetypes": [ext.lstrip(".") for ext in UPLOAD_EXTENSIONS]},
                    hint=UPLOAD_HINT),
        input_block(Block.UPLOAD_TYPE, "Document type", select_element(types, initial=NO_DOCUMENT_TYPE),
                    optional=True),
        input_block(Block.UPLOAD_DESCRIPTION, "Description",
                    text_element(multiline=True, max_length=UPLOAD_DESCRIPTION_MAX), optional=True,
                    hint=f"Up to {UPLOAD_DESCRIPTION_MAX} characters."),
    ]
    return modal(Callback.UPLOAD, "Upload file", blocks, ctx=ctx, submit="Upload")


# --- close, activate, fees ------------------------------------------------------------------------

def build_close_view(ctx: ModalContext, case: CaseSummary, *, payments_line: str | None = None) -> View:
    codes = [option(name, label) for name, label in CLOSE_CODES.items()]
    blocks: list[dict[str, Any]] = [case_line(case)]
    if payments_line:
        blocks.append(context(payments_line))
    blocks += [
        input_block(Block.CLOSE_CODE, "Why is it closed", select_element(codes),
                    hint="Paid needs payments covering the balance; partially paid needs at least one "
                         "payment."),
        input_block(Block.CLOSE_COMMENT, "Comment",
                    text_element(multiline=True, max_length=CLOSE_COMMENT_MAX), optional=True,
                    hint=f"Required with Other. Up to {CLOSE_COMMENT_MAX:,} characters."),
    ]
    return modal(Callback.CLOSE, "Close case", blocks, ctx=ctx, submit="Close case")


@dataclass(frozen=True, slots=True)
class TeamMember:
    email: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Fees:
    interest: Decimal | None = None
    reminder: Decimal | None = None
    collection: Decimal | None = None


def _fee_blocks(fees: Fees, currency: str | None) -> list[dict[str, Any]]:
    cur = f" ({currency})" if currency else ""
    out = []
    for block, label, value in ((Block.FEE_INTEREST, "Interest", fees.interest),
                                (Block.FEE_REMINDER, "Reminder fees", fees.reminder),
                                (Block.FEE_COLLECTION, "Collection fees", fees.collection)):
        out.append(input_block(block, f"{label}{cur}",
                               text_element(max_length=20, initial=amount_text(value), placeholder="0.00"),
                               optional=True, hint="Empty means 0.00."))
    return out


def build_activate_view(ctx: ModalContext, case: CaseSummary, *, actor: str, team: Sequence[TeamMember],
                        fees: Fees = Fees()) -> View:
    """Activate a PendingVerification case. `team` is GET /users (the first 100 fit a select)."""
    blocks: list[dict[str, Any]] = [
        case_line(case),
        input_block(Block.ACT_WELCOME, "Welcome message",
                    text_element(multiline=True, max_length=SLACK_INPUT_MAX),
                    hint=f"Emailed to the creditor and posted in the chat. Slack fields hold up to "
                         f"{SLACK_INPUT_MAX:,} characters (Debitura takes {WELCOME_API_MAX:,})."),
        input_block(Block.ACT_REFERENCE, "Our reference",
                    text_element(max_length=PARTNER_REFERENCE_MAX), optional=True,
                    hint=f"Up to {PARTNER_REFERENCE_MAX} characters; find the case later with "
                         "partner:<ref>."),
    ]
    members = [option(m.email, m.name or m.email, m.email if m.name else None)
               for m in team if m.email and len(m.email) <= MAX_OPTION_VALUE][:MAX_OPTIONS]
    if members:
        blocks.append(input_block(Block.ACT_ASSIGNEE, "Case handler", select_element(members), optional=True,
                                  hint="Who works the case. Empty: nobody is assigned."))
    blocks += _fee_blocks(fees, case.currency)
    blocks.append(context(f"Activated as *{esc_trunc(actor, 200)}* (your Debitura account)."))
    return modal(Callback.ACTIVATE, "Activate case", blocks, ctx=ctx, submit="Activate")


def build_fees_view(ctx: ModalContext, case: CaseSummary, *, principal: Decimal | None, fees: Fees) -> View:
    cur = f" ({case.currency})" if case.currency else ""
    blocks: list[dict[str, Any]] = [
        case_line(case),
        input_block(Block.FEE_PRINCIPAL, f"Principal{cur}",
                    text_element(max_length=20, initial=amount_text(principal)),
                    hint="Up or down; the success fee is recalculated."),
        *_fee_blocks(fees, case.currency),
        context("All four values replace today's; the creditor sees the change in the timeline."),
    ]
    return modal(Callback.FEES, "Update fees", blocks, ctx=ctx, submit="Update fees")


def build_fees_confirm_view(ctx: ModalContext, case: CaseSummary, *, current: Decimal | None,
                            proposed: Decimal | None, intentional: bool, warning: str | None = None,
                            message: str | None = None) -> View:
    """Debitura's price-change gate: show the current and proposed success fee, ask to confirm."""
    def pct(v: Decimal | None) -> str:
        return "—" if v is None else f"{format_amount(v)} %"

    lines = [f"*Success fee now:* {pct(current)}", f"*Success fee after the change:* {pct(proposed)}"]
    blocks: list[dict[str, Any]] = [case_line(case), section("\n".join(lines))]
    if warning:
        blocks.append(section(f":warning: {esc_trunc(warning, 2000)}"))
    if message:
        blocks.append(context(esc_trunc(message, 2000)))
    if intentional:
        blocks.append(section("This case has an intentionally set rate. Saving keeps that rate."))
        submit = "Keep rate and save"
    else:
        blocks.append(section("Saving accepts the new success fee."))
        submit = "Accept and save"
    return modal(Callback.FEES_CONFIRM, "Confirm price change", blocks, ctx=ctx, submit=submit,
                 notify_on_close=True)
