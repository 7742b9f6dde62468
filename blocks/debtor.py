"""The "Debtor and claim" modal: the whole case as Debitura returns it, for the person who asked.

Opened from the card's *Debtor and claim* button as a modal, which only the person who clicked sees.
It holds the debtor's contact details (email, phone, address, contact person, registration number):
these appear nowhere else, never in a card (shared or not), a channel message or a log line above
DEBUG. Every field may be missing (older cases, partial data): a missing one is left out, and a
section with nothing to show says so.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from blocks.card import TEST_CASE_LINE, case_title
from blocks.forms import modal
from blocks.ids import Callback
from blocks.text import (
    Block,
    context,
    divider,
    esc_trunc,
    fields_section,
    format_money,
    header,
    one_line,
    section,
)
from bot.debitura.models import BankAccount, Case, Debtor

MAX_VALUE = 300
MAX_COMMENTS = 2800
ONLY_YOU = (":lock: Only you see this. Contact details stay here: they are never posted in a channel "
            "or a shared card.")


def _field(label: str, value: object, limit: int = MAX_VALUE) -> str | None:
    text = one_line(value) if value is not None else ""
    if not text:
        return None
    return f"*{label}*\n{esc_trunc(text, limit)}"


def _fields(pairs: list[tuple[str, object]]) -> list[Block]:
    """Label/value pairs with a value, in sections of at most 10 fields."""
    shown = [f for f in (_field(label, value) for label, value in pairs) if f]
    return [fields_section(shown[i:i + 10]) for i in range(0, len(shown), 10)]


def address_of(debtor: Debtor) -> str:
    """Street, `zip city`, state, country: the parts present, comma-separated."""
    city = " ".join(p for p in (debtor.zip_code, debtor.city) if p and p.strip())
    parts = [debtor.address, city, debtor.state, debtor.country or debtor.country_alpha2]
    return ", ".join(one_line(p) for p in parts if p and str(p).strip())


def debtor_blocks(debtor: Debtor | None) -> list[Block]:
    blocks: list[Block] = [section("*Debtor*")]
    if debtor is None:
        return [*blocks, section("Debitura returned no debtor details.")]
    is_company = (debtor.type or "").strip().lower() == "company"
    pairs: list[tuple[str, object]] = [
        ("Name", debtor.name),
        ("Type", debtor.type),
        ("Contact person" if is_company else "Contact", debtor.contact_person),
        ("Registration number", debtor.company_registration_number),
        ("Email", debtor.email),
        ("Phone", debtor.phone),
        ("Address", address_of(debtor)),
    ]
    found = _fields(pairs)
    return [*blocks, *(found or [section("No contact details on this case.")])]


def claim_blocks(case: Case) -> list[Block]:
    blocks: list[Block] = [section("*Claim*")]
    found = _fields([
        ("Claim type", case.claim_type),
        ("Dispute status", case.dispute_status or "Not stated"),
        ("Creditor", case.creditor.company_name if case.creditor else None),
        ("Their reference", case.creditor_reference),
    ])
    blocks.extend(found)
    if case.claim_description and case.claim_description.strip():
        blocks.append(section(f"*Description*\n{esc_trunc(case.claim_description.strip(), MAX_COMMENTS)}"))
    comments = (case.creditor_comments or "").strip()
    shown = esc_trunc(comments, MAX_COMMENTS) if comments else "None"
    blocks.append(section(f"*Creditor comments*\n{shown}"))
    return blocks


def outstanding_blocks(case: Case) -> list[Block]:
    currency = case.currency
    alloc = case.allocation_outstanding
    rows: list[str] = []
    if alloc is not None:
        labelled = (("Principal", alloc.principal), ("Interest", alloc.interest),
                    ("Reminder fees", alloc.reminder_fees), ("Collection fees", alloc.collection_fees))
        for label, amount in labelled:
            if amount is not None:
                rows.append(f"*{label}*\n{format_money(amount, currency)}")
    rows.append(f"*Outstanding in all*\n{format_money(case.remainder, currency)}")
    blocks: list[Block] = [section("*What is outstanding*"), fields_section(rows)]
    if alloc is None:
        blocks.append(context("Debitura gave no breakdown for this case."))
    elif case.remainder is not None:
        parts = [a for a in (alloc.principal, alloc.interest, alloc.reminder_fees, alloc.collection_fees)
                 if a is not None]
        if parts and abs(sum(parts, Decimal(0)) - case.remainder) > Decimal("0.005"):
            blocks.append(context("The parts do not add up to the outstanding amount; Debitura's total is "
                                  "shown."))
    return blocks


def bank_blocks(bank: BankAccount | None) -> list[Block]:
    if bank is None:
        return [section("*Payout bank details*\nNone on this case.")]
    local = None
    if bank.local_identifier:
        local = f"{bank.local_identifier} ({bank.local_identifier_type})" if bank.local_identifier_type \
            else bank.local_identifier
    city = " ".join(p for p in (bank.bank_zip_code, bank.bank_city) if p and p.strip())
    where = (bank.bank_address, city, bank.bank_state, bank.bank_country_code)
    address = ", ".join(one_line(p) for p in where if p and str(p).strip())
    found = _fields([
        ("Account holder", bank.account_holder_name),
        ("IBAN", bank.iban),
        ("BIC", bank.bic),
        ("Account number", bank.account_number),
        ("Local identifier", local),
        ("Scheme", bank.scheme),
        ("Currency", bank.currency_code),
        ("Bank", bank.bank_name),
        ("Bank address", address),
        ("Label", bank.label),
    ])
    return [section("*Payout bank details*"), *(found or [section("The bank account has no details.")])]


def build_debtor_view(case: Case) -> dict[str, Any]:
    """The modal (Callback.RESULT: nothing to submit, a Close button)."""
    blocks: list[Block] = [header(case_title(case))]
    if case.is_test_case:
        blocks.append(context(TEST_CASE_LINE))
    blocks.append(context(ONLY_YOU))
    blocks += debtor_blocks(case.debtor)
    blocks.append(divider())
    blocks += claim_blocks(case)
    blocks.append(divider())
    blocks += outstanding_blocks(case)
    blocks.append(divider())
    blocks += bank_blocks(case.bank_account)
    return modal(Callback.RESULT, "Debtor and claim", blocks, close="Close")
