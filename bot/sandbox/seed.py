"""Deterministic seed data: the same `--seed` and `--cases` give the same ids, references, names
and amounts on every run. Dates are laid out backwards from the start of the current UTC day.

Cases are generated eagerly with their payments (they drive remainders and sorting); chats,
timeline and files of each case are generated on first use from a per-case random stream
(`materialize`), which keeps start-up fast at 10,000 cases.

`--cases N` counts cases assigned to us (every lifecycle, hidden stages and test cases included);
a few cases of another partner are added on top so that "not ours" answers 404.
"""

from __future__ import annotations

import base64
import random
import string
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bot.sandbox.enums import CHAT_ROLE_LABELS, DISPUTED
from bot.sandbox.model import (
    CaseRec,
    ChatRec,
    Creditor,
    Division,
    ExclusivePeriodRec,
    FileRec,
    Partner,
    PaymentRec,
    TeamUser,
    TimelineRec,
    iso,
    money,
)

T = TypeVar("T")

OTHER_PARTNER_ID = "00000000-0000-4000-8000-00000000dead"
OTHER_PARTNER_NAME = "Baltic Recovery Partners OU"

_COUNTRIES: list[tuple[str, str, str, list[str]]] = [
    ("DK", "Denmark", "DKK", ["Copenhagen", "Aarhus", "Odense", "Aalborg"]),
    ("DE", "Germany", "EUR", ["Berlin", "Hamburg", "Munich", "Cologne"]),
    ("SE", "Sweden", "SEK", ["Stockholm", "Gothenburg", "Malmo"]),
    ("GB", "United Kingdom", "GBP", ["London", "Manchester", "Leeds"]),
    ("US", "United States", "USD", ["New York", "Chicago", "Austin"]),
    ("NO", "Norway", "NOK", ["Oslo", "Bergen"]),
    ("NL", "Netherlands", "EUR", ["Amsterdam", "Rotterdam", "Utrecht"]),
    ("FR", "France", "EUR", ["Paris", "Lyon", "Lille"]),
]
COUNTRIES = _COUNTRIES
"""(alpha-2, name, currency, cities) of the countries the seed uses."""
_FIRST = [
    "Anna",
    "Lars",
    "Sofie",
    "Jonas",
    "Emma",
    "Mikkel",
    "Ida",
    "Oliver",
    "Freja",
    "Lukas",
    "Clara",
    "Noah",
    "Maja",
    "Elias",
    "Laura",
    "Felix",
    "Nora",
    "Hugo",
    "Alma",
    "Theo",
]
_LAST = [
    "Berg",
    "Hansen",
    "Nielsen",
    "Schmidt",
    "Johansson",
    "Smith",
    "Larsen",
    "Dubois",
    "de Vries",
    "Andersen",
    "Meyer",
    "Olsen",
    "Martin",
    "Brown",
    "Lindqvist",
    "Jensen",
]
_CO_A = [
    "Nordic",
    "Baltic",
    "Atlas",
    "Harbor",
    "Granite",
    "Maple",
    "Summit",
    "Coastal",
    "Polar",
    "Copper",
    "Meridian",
    "Aurora",
    "Fjord",
    "Iron",
    "Silver",
    "Pioneer",
    "Vertex",
    "Oak",
]
_CO_B = [
    "Logistics",
    "Builders",
    "Foods",
    "Textiles",
    "Electric",
    "Consulting",
    "Media",
    "Marine",
    "Retail",
    "Print",
    "Dental",
    "Motors",
    "Software",
    "Furniture",
    "Catering",
    "Freight",
]
_CO_SUFFIX = {
    "DK": "ApS",
    "DE": "GmbH",
    "SE": "AB",
    "GB": "Ltd",
    "US": "Inc.",
    "NO": "AS",
    "NL": "B.V.",
    "FR": "SARL",
}
_CLAIMS = ["Unpaid Invoice"] * 7 + ["Loan Repayment"] * 2 + ["Breach of Contract"]
_CHAT_PARTNER = [
    "We have sent the first reminder letter to the debtor.",
    "The debtor called and asked for a copy of the invoice. Could you upload it?",
    "Payment plan proposed: three monthly instalments. Do you accept?",
    "The debtor disputes the delivery date. Do you have a proof of delivery?",
    "We received a partial payment today and registered it.",
    "No answer to our letters so far; we will try by phone this week.",
]
_CHAT_CREDITOR = [
    "Thanks for the update.",
    "Yes, a payment plan is fine with us.",
    "I have uploaded the signed contract.",
    "Please go ahead with the next step.",
    "The debtor contacted us directly and promised to pay by Friday.",
    "Any news on this case?",
]
_CLOSE_MIX = (
    ["Paid"] * 5
    + ["PartiallyPaid"] * 2
    + [
        "DebtorUntraceable",
        "DebtorInsolventBankrupt",
        "WithdrawnByClient",
        "PreLegalExhaustedNoPayment",
        "UneconomicalToPursue",
        "Other",
        "CaseNeverStarted",
        "NoQuotesReceived",
    ]
)

# The first cases cover every situation tests need, whatever N is; the rest are drawn by weight.
EXAMPLE_REFERENCE = "Q8OAXF3W"
"""The reference README.md and `/case help` use as their example: the first seeded case has it."""

_COVERAGE: list[dict[str, Any]] = [
    {"lifecycle": "Active", "pref": "112179442 & 112179443", "reference": EXAMPLE_REFERENCE},
    {"lifecycle": "PendingVerification"},
    {"lifecycle": "NeedsAdditionalDetails"},
    {"lifecycle": "Leads"},
    {"lifecycle": "LeadsQuoteGiven"},
    {"lifecycle": "Paused"},
    {"lifecycle": "Closed", "close": "Paid"},
    {"lifecycle": "Closed", "close": "PartiallyPaid"},
    {"lifecycle": "Closed", "close": "DebtorUntraceable"},
    {"lifecycle": "Merged"},
    {"lifecycle": "Active", "intentional": True},
    {"lifecycle": "Active", "invoiced": True},
    {"lifecycle": "PendingVerification", "claim": "Breach of Contract"},
    {"lifecycle": "PendingVerification", "disputed": True},
    {"lifecycle": "Active", "test": True},
    {"lifecycle": "PendingContractSigning"},
    {"lifecycle": "PendingVerificationInternal"},
    {"lifecycle": "Closed", "close": "Paid", "invoiced": True},
]
_WEIGHTS: list[tuple[str, int]] = [
    ("Active", 40),
    ("PendingVerification", 10),
    ("NeedsAdditionalDetails", 6),
    ("Leads", 4),
    ("LeadsQuoteGiven", 3),
    ("Paused", 8),
    ("Closed", 24),
    ("Merged", 2),
    ("PendingContractSigning", 1),
    ("PendingVerificationInternal", 1),
]


def success_fee_for(gross_amount: float) -> float:
    """The sandbox's fee table: Debitura's standard success fee by principal (percent)."""
    if gross_amount < 1_000:
        return 25.0
    if gross_amount < 5_000:
        return 20.0
    if gross_amount < 25_000:
        return 15.0
    if gross_amount < 100_000:
        return 12.5
    return 10.0


def _pick(rng: random.Random, seq: Sequence[T]) -> T:
    """rng.choice, but on one C-level draw (seeding 10,000 cases makes hundreds of thousands)."""
    return seq[int(rng.random() * len(seq))]


def _int(rng: random.Random, a: int, b: int) -> int:
    """rng.randint(a, b) on one C-level draw."""
    return a + int(rng.random() * (b - a + 1))


def rng_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class SeedWorld:
    partner: Partner
    users: list[TeamUser]
    creditors: list[Creditor]
    cases: list[CaseRec]
    api_key: str


def _day_start() -> datetime:
    today = datetime.now(UTC)
    return today.replace(hour=0, minute=0, second=0, microsecond=0)


def default_api_key(seed: int) -> str:
    rng = random.Random(f"api-key:{seed}")
    return "sandbox-key-" + "".join(_pick(rng, string.ascii_lowercase + string.digits) for _ in range(20))


def build_world(seed: int, n_cases: int) -> SeedWorld:
    rng = random.Random(seed)
    anchor = _day_start()
    partner = Partner(
        id=rng_uuid(rng),
        company_name="Nordlys Collection ApS",
        registration="DK41234567",
        vat="DK41234567",
        address="Havnegade 12",
        zip_code="1058",
        city="Copenhagen",
        country="Denmark",
        office_email="office@nordlys-collection.example",
        office_phone="+45 70 20 30 40",
        invoice_email="billing@nordlys-collection.example",
        public_site="https://nordlys-collection.example",
        api_user_id=7001,
    )
    users: list[TeamUser] = []
    for i, (first, last) in enumerate(
        [("Anna", "Berg"), ("Jonas", "Hansen"), ("Sofie", "Larsen"), ("Mikkel", "Olsen"), ("Ida", "Jensen")]
    ):
        users.append(
            TeamUser(
                id=rng_uuid(rng),
                int_id=7002 + i,
                first_name=first,
                last_name=last,
                email=f"{first.lower()}.{last.lower()}@nordlys-collection.example",
                date_created=iso(anchor - timedelta(days=900 - i * 40)),
            )
        )
    creditors: list[Creditor] = []
    n_creditors = max(6, min(80, n_cases // 100 + 6))
    for i in range(n_creditors):
        alpha2, country, _cur, cities = _COUNTRIES[i % len(_COUNTRIES)]
        name = f"{_pick(rng, _CO_A)} {_pick(rng, _CO_B)} {_CO_SUFFIX[alpha2]}"
        divisions = [
            Division(id=rng_uuid(rng), name=f"{name.split()[0]} {d}")
            for d in rng.sample(["North", "South", "Retail", "Wholesale", "Online"], _int(rng, 0, 3))
        ]
        first, last = _pick(rng, _FIRST), _pick(rng, _LAST)
        creditors.append(
            Creditor(
                id=rng_uuid(rng),
                company_name=name,
                registration=f"{alpha2}{_int(rng, 10_000_000, 99_999_999)}",
                office_email=f"accounts@{name.split()[0].lower()}{i}.example",
                office_phone=f"+{_int(rng, 10, 99)} {_int(rng, 1000, 9999)} {_int(rng, 1000, 9999)}",
                address=f"{_pick(rng, _LAST)}street {_int(rng, 1, 200)}",
                city=_pick(rng, cities),
                zip_code=str(_int(rng, 1000, 99999)),
                country=country,
                contact_first=first,
                contact_last=last,
                contact_int_id=20_000 + i,
                divisions=divisions,
            )
        )
    debtor_pool: list[tuple[str, dict[str, Any]]] = []
    n_debtors = max(4, int(n_cases * 0.7))
    for _ in range(n_debtors):
        alpha2, country, _cur, cities = _pick(rng, _COUNTRIES)
        is_company = rng.random() < 0.6
        first, last = _pick(rng, _FIRST), _pick(rng, _LAST)
        name = (
            f"{_pick(rng, _CO_A)} {_pick(rng, _CO_B)} {_CO_SUFFIX[alpha2]}"
            if is_company
            else f"{first} {last}"
        )
        debtor_pool.append(
            (
                rng_uuid(rng),
                {
                    "type": "Company" if is_company else "Person",
                    "name": name,
                    "contactPerson": f"{first} {last}" if is_company else None,
                    "companyRegistrationNumber": f"{alpha2}{_int(rng, 10_000_000, 99_999_999)}"
                    if is_company
                    else None,
                    "address": f"{_pick(rng, _LAST)} Road {_int(rng, 1, 300)}",
                    "zipCode": str(_int(rng, 1000, 99999)),
                    "city": _pick(rng, cities),
                    "state": None,
                    "stateAlpha2": None,
                    "countryAlpha2": alpha2,
                    "country": country,
                    "email": f"{first.lower()}.{last.lower().replace(' ', '')}"
                    f"@debtor{_int(rng, 1, 999)}.example",
                    "phone": f"+{_int(rng, 10, 99)} {_int(rng, 10_000_000, 99_999_999)}",
                },
            )
        )
    references: set[str] = {EXAMPLE_REFERENCE}
    cases: list[CaseRec] = []
    population = [w[0] for w in _WEIGHTS]
    weights = [w[1] for w in _WEIGHTS]
    extra_other = max(2, n_cases // 50)
    for i in range(n_cases + extra_other):
        ours = i < n_cases
        spec: dict[str, Any] = dict(_COVERAGE[i]) if ours and i < len(_COVERAGE) else {}
        if not spec:
            spec = {"lifecycle": rng.choices(population, weights)[0]}
            if spec["lifecycle"] == "Closed":
                spec["close"] = _pick(rng, _CLOSE_MIX)
            spec["test"] = ours and rng.random() < 0.03
            spec["intentional"] = rng.random() < 0.08
        cases.append(
            make_case(rng, i, spec, ours, partner, users, creditors, debtor_pool, references, anchor)
        )
    return SeedWorld(
        partner=partner, users=users, creditors=creditors, cases=cases, api_key=default_api_key(seed)
    )


_REF_ALPHABET = string.ascii_uppercase + string.digits


def _reference(rng: random.Random, taken: set[str]) -> str:
    while True:
        bits = rng.getrandbits(48)
        ref = "".join(_REF_ALPHABET[(bits >> (6 * k)) % 36] for k in range(8))
        if ref not in taken:
            taken.add(ref)
            return ref


def make_case(
    rng: random.Random,
    index: int,
    spec: dict[str, Any],
    ours: bool,
    partner: Partner,
    users: list[TeamUser],
    creditors: list[Creditor],
    debtor_pool: list[tuple[str, dict[str, Any]]],
    refs: set[str],
    anchor: datetime,
) -> CaseRec:
    lifecycle: str = spec["lifecycle"]
    creditor = _pick(rng, creditors)
    division = _pick(rng, creditor.divisions) if creditor.divisions and rng.random() < 0.7 else None
    debtor_id, debtor = _pick(rng, debtor_pool)
    currency = next(c[2] for c in _COUNTRIES if c[0] == debtor["countryAlpha2"])
    created = anchor - timedelta(days=_int(rng, 3, 720), seconds=_int(rng, 0, 86_399))
    issue = created - timedelta(days=_int(rng, 30, 200))
    due = issue + timedelta(days=_pick(rng, [14, 30, 45]))
    gross = money(
        _pick(
            rng,
            [
                rng.uniform(150, 999),
                rng.uniform(1000, 4999),
                rng.uniform(5000, 24_999),
                rng.uniform(25_000, 120_000),
            ],
        )
    )
    started = lifecycle in ("Active", "Paused", "Closed", "Merged") and spec.get("close") not in (
        "CaseNeverStarted",
        "NoQuotesReceived",
    )
    interest = money(gross * rng.uniform(0, 0.06)) if started else 0.0
    reminder = money(_pick(rng, [0, 0, 10, 25, 40])) if started else 0.0
    collection = money(_pick(rng, [0, 0, 50, 75, 120])) if started else 0.0
    claim = spec.get("claim") or _pick(rng, _CLAIMS)
    if lifecycle == "PendingVerification" and "claim" not in spec and not spec.get("disputed"):
        claim = _pick(rng, ["Unpaid Invoice", "Loan Repayment"])
    disputed = (
        DISPUTED
        if spec.get("disputed")
        else _pick(
            rng, ["No, the claim is not disputed", "No, the claim is not disputed", "Don't Know", None]
        )
    )
    table_fee = success_fee_for(gross)
    intentional = bool(spec.get("intentional"))
    fee: float | None = table_fee
    if intentional:
        fee = money(table_fee + _pick(rng, [-5.0, -2.5, 2.5, 5.0]))
    if lifecycle in ("Leads", "PendingContractSigning"):
        fee, intentional = None, False
    # Never after the seed's day start: a case created three days ago started collection by now.
    collection_started = (min(created + timedelta(days=_int(rng, 1, 5)), _lately(anchor, "start", index))
                          if started else None)
    case_id = rng_uuid(rng)
    # Drawn even when the spec names the reference, so every later value is what the seed gave before.
    drawn = _reference(rng, refs)
    reference = str(spec.get("reference") or drawn)
    case = CaseRec(
        id=case_id,
        partner_id=partner.id if ours else OTHER_PARTNER_ID,
        reference=reference,
        date_created=iso(created),
        date_updated=iso(created + (anchor - created) * rng.uniform(0.05, 0.95)),
        creditor_id=creditor.id,
        division_id=division.id if division else None,
        creditor_reference=f"INV-{issue.year}-{_int(rng, 1000, 99999)}",
        creditor_comments=_pick(
            rng,
            [
                None,
                "Debtor usually pays after a phone call.",
                "Long-standing customer; please be polite.",
                "Goods were delivered in full on time.",
            ],
        ),
        claim_description=f"Invoice for {_pick(rng, ['services', 'goods', 'consulting', 'rent', 'freight'])}",
        claim_type=claim,
        dispute_status=disputed,
        gross_amount=gross,
        interest_fees=interest,
        reminder_fees=reminder,
        collection_fees=collection,
        currency=currency,
        is_test=bool(spec.get("test")),
        lifecycle=lifecycle,
        close_code=None,
        close_comment=None,
        due_date=iso(due),
        date=iso(issue),
        date_finished=None,
        date_collection_started=iso(collection_started) if collection_started else None,
        engagement_phase=None,
        debtor_id=debtor_id,
        debtor=dict(debtor),
        bank_account=_bank_account(rng, creditor, currency),
        success_fee=fee,
        intentional_rate=intentional,
        blended_age_uplift=money(rng.uniform(0, 20)) if rng.random() < 0.1 else None,
        needs_info=lifecycle == "NeedsAdditionalDetails",
        validation_items=[],
        creditor_responded_at=None,
        assigned_user_id=_pick(rng, users).id if started and rng.random() < 0.8 else None,
        seed_index=index,
    )
    if case.needs_info:
        case.validation_items = [
            {"resolutionArea": "DebtorDetails", "description": "The debtor's address could not be verified."},
            {"resolutionArea": "ClaimDocuments", "description": "Upload the original invoice."},
        ][: _int(rng, 1, 2)]
        if rng.random() < 0.5:
            case.creditor_responded_at = iso(created + timedelta(days=2))
    if started and collection_started is not None:
        case.engagement_phase = _pick(rng, ["Pre-legal"] * 6 + ["Legal"] * 2 + ["Enforcement"])
        standard = claim in ("Unpaid Invoice", "Loan Repayment") and disputed != DISPUTED
        if standard:
            end = collection_started + timedelta(days=182)
            case.exclusive_period = ExclusivePeriodRec(start=iso(collection_started), end=iso(end))
            if rng.random() < 0.3:
                new_end = end + timedelta(days=_pick(rng, [30, 60, 90]))
                case.exclusive_period.extensions.append(
                    {
                        "type": _pick(rng, ["PromiseToPay", "PaymentAgreement", "Payment", "Manual"]),
                        # agreed ten days before the period ran out, or recently if it still runs
                        "eventDate": iso(max(collection_started,
                                             min(end - timedelta(days=10), anchor - timedelta(days=1)))),
                        "newEndDate": iso(new_end),
                    }
                )
                case.exclusive_period.end = iso(new_end)
    if spec.get("pref"):
        case.partner_reference = spec["pref"]
    elif started and rng.random() < 0.6:
        case.partner_reference = f"NC-{created.year}-{index:05d}"
    if (
        case.date_collection_started
        and case.date_updated
        and case.date_updated < case.date_collection_started
    ):
        case.date_updated = case.date_collection_started
    _seed_payments(rng, case, spec, created, anchor)
    if lifecycle == "Closed":
        code = spec.get("close") or "Other"
        case.close_code = code
        finish = max(created + timedelta(days=_int(rng, 10, 200)), _last_payment(case) or created)
        case.date_finished = iso(min(finish, _lately(anchor, "finish", index)))
        case.close_comment = "Closed after review." if code == "Other" else None
        if case.exclusive_period is not None and code != "Paid" and rng.random() < 0.5:
            case.exclusive_period.terminated = True
    if case.date_updated and case.date_finished and case.date_updated < case.date_finished:
        case.date_updated = case.date_finished
    last = _last_payment(case)
    if last and case.date_updated and iso(last) > case.date_updated:
        case.date_updated = iso(last)
    return case


def _lately(anchor: datetime, what: str, index: int) -> datetime:
    """The latest a seeded event may be: between 48 hours and 1 hour before the seed's day start, spread
    per case (clamping every recent case to one instant gave hundreds of cases the same dateUpdated,
    which no real listing shows). Drawn from its own generator, so the rest of the seed is unchanged."""
    fraction = random.Random(f"lately:{what}:{index}").random()
    return anchor - timedelta(hours=1) - timedelta(hours=47) * fraction


def _last_payment(case: CaseRec) -> datetime | None:
    if not case.payments:
        return None
    return max(datetime.fromisoformat(p.date_created.replace("Z", "+00:00")) for p in case.payments)


def _bank_account(rng: random.Random, creditor: Creditor, currency: str) -> dict[str, Any] | None:
    if rng.random() < 0.15:
        return None
    country = creditor.registration[:2]
    iban = f"{country}{_int(rng, 10, 99)}{_int(rng, 10**13, 10**14 - 1)}"
    return {
        "id": _int(rng, 1000, 999_999),
        "label": "Main account",
        "scheme": "IBAN",
        "currencyCode": currency,
        "bankCountryCode": country,
        "accountHolderName": creditor.company_name,
        "iban": iban,
        "bic": f"{creditor.company_name[:4].upper()}XX",
        "accountNumber": None,
        "localIdentifier": None,
        "localIdentifierType": None,
        "bankName": "Sandbox Bank",
        "bankAddress": "Bank Street 1",
        "bankCity": creditor.city,
        "bankZipCode": creditor.zip_code,
        "bankState": None,
    }


def _seed_payments(
    rng: random.Random, case: CaseRec, spec: dict[str, Any], created: datetime, anchor: datetime
) -> None:
    lifecycle, code = case.lifecycle, spec.get("close")
    total = money(case.gross_amount + case.total_fees)
    amounts: list[float] = []
    if lifecycle == "Closed" and code == "Paid":
        if rng.random() < 0.5:
            first = money(total * rng.uniform(0.2, 0.6))
            amounts = [first, money(total - first)]
        else:
            amounts = [total]
    elif lifecycle == "Closed" and code == "PartiallyPaid":
        amounts = [money(total * rng.uniform(0.1, 0.6))]
    elif lifecycle in ("Active", "Paused") and (spec.get("invoiced") or rng.random() < 0.35):
        amounts = [money(total * rng.uniform(0.05, 0.3)) for _ in range(_int(rng, 1, 2))]
    span = max(1, (anchor - created).days - 1)
    for k, amount in enumerate(amounts):
        when = created + timedelta(days=min(span, _int(rng, 5, 60) * (k + 1)), minutes=_int(rng, 0, 600))
        recipient = _pick(rng, ["CollectionPartner", "CollectionPartner", "Creditor"])
        fee = case.success_fee or 0.0
        partner_share = money(amount * fee / 100)
        invoiced = bool(spec.get("invoiced")) or rng.random() < 0.15
        case.payments.append(
            PaymentRec(
                id=rng_uuid(rng),
                date_created=iso(when),
                date_updated=None,
                date=iso(when.replace(hour=0, minute=0, second=0, microsecond=0)),
                amount=amount,
                recipient=recipient,
                method=_pick(rng, ["BankTransfer", "BankTransfer", "Card", "Cash"]),
                commission_status="Paid" if recipient != "Creditor" else _pick(rng, ["Paid", "Unpaid"]),
                payout_creditor=money(amount - partner_share),
                payout_partner=partner_share,
                invoiced=invoiced,
                invoice_id=rng_uuid(rng) if invoiced else None,
                invoice_reference=f"PI-{_int(rng, 10_000, 99_999)}" if invoiced else None,
            )
        )
    case.payments.sort(key=lambda p: p.date_created)


def materialize(case: CaseRec, seed: int, users: list[TeamUser], creditor: Creditor) -> None:
    """Generate the seeded chats, timeline and files of a case (once)."""
    if case.seed_index < 0:
        return
    rng = random.Random(f"{seed}:{case.seed_index}:{case.id}")
    case.seed_index = -1
    created = datetime.fromisoformat(case.date_created.replace("Z", "+00:00"))
    latest = datetime.fromisoformat((case.date_updated or case.date_created).replace("Z", "+00:00"))
    events: list[TimelineRec] = [
        TimelineRec(
            date=case.date_created,
            type="Assignment",
            title="Case assigned",
            description=f"Case {case.reference} was assigned to you.",
            actor_type="System",
            actor_name=None,
        )
    ]
    handler = next((u for u in users if u.id == case.assigned_user_id), users[0])
    if case.date_collection_started:
        events.append(
            TimelineRec(
                date=case.date_collection_started,
                type="LifecycleChange",
                title="Case activated",
                description="Lifecycle changed from Pending Verification to Active.",
                actor_type="Partner user",
                actor_name=handler.name,
            )
        )
        if case.engagement_phase in ("Legal", "Enforcement"):
            began = datetime.fromisoformat(case.date_collection_started.replace("Z", "+00:00"))
            when = began + (max(latest, began + timedelta(hours=2)) - began) * rng.uniform(0.3, 0.9)
            events.append(
                TimelineRec(
                    date=iso(when),
                    type="EngagementPhase",
                    title="Engagement phase changed",
                    description=f"Engagement phase changed from Pre-legal to {case.engagement_phase}.",
                    actor_type="System",
                    actor_name=None,
                )
            )
    for p in case.payments:
        events.append(
            TimelineRec(
                date=p.date_created,
                type="Payment",
                title="Payment registered",
                description=f"Payment of {p.amount:.2f} {case.currency} registered.",
                actor_type="Partner user",
                actor_name=handler.name,
            )
        )
    if case.lifecycle == "NeedsAdditionalDetails":
        events.append(
            TimelineRec(
                date=iso(created + timedelta(hours=3)),
                type="LifecycleChange",
                title="More information required",
                description="Debitura asked the creditor for more information.",
                actor_type="System",
                actor_name=None,
            )
        )
    if case.close_code and case.date_finished:
        events.append(
            TimelineRec(
                date=case.date_finished,
                type="CaseClosed",
                title="Case closed",
                description=f"Case closed with close code {case.close_code}.",
                actor_type="Partner user",
                actor_name=handler.name,
            )
        )
    if case.lifecycle == "Merged":
        events.append(
            TimelineRec(
                date=case.date_updated or case.date_created,
                type="System",
                title="Case merged",
                description="This case was merged into another case.",
                actor_type="System",
                actor_name=None,
            )
        )
    events.sort(key=lambda t: t.date)
    case.timeline = events

    if case.date_collection_started and case.lifecycle not in ("PendingContractSigning",):
        start = datetime.fromisoformat(case.date_collection_started.replace("Z", "+00:00"))
        when = start
        for k in range(_int(rng, 0, 6)):
            when = when + timedelta(hours=_int(rng, 2, 96))
            if when > latest:
                break
            role = 1 if k % 2 else 0
            if role == 1 and rng.random() < 0.15:
                role = 2
            if role == 0:
                u = _pick(rng, users)
                first, last, email, uid = u.first_name, u.last_name, u.email, u.int_id
                text = _pick(rng, _CHAT_PARTNER)
            elif role == 1:
                first, last, uid = creditor.contact_first, creditor.contact_last, creditor.contact_int_id
                email = f"{first.lower()}@{creditor.office_email.split('@')[1]}"
                text = _pick(rng, _CHAT_CREDITOR)
            else:
                u = _pick(rng, users)
                first, last, email, uid = u.first_name, u.last_name, u.email, u.int_id
                text = "Posting on behalf of the creditor: " + _pick(rng, _CHAT_CREDITOR).lower()
            case.chats.append(
                ChatRec(
                    id=rng_uuid(rng),
                    date_created=iso(when),
                    date_updated=None,
                    role=role,
                    message=text,
                    is_seen=rng.random() < 0.7,
                    user_int_id=uid,
                    user_first=first,
                    user_last=last,
                    user_email=email,
                )
            )
            events_label = CHAT_ROLE_LABELS[role]
            case.timeline.append(
                TimelineRec(
                    date=iso(when),
                    type="Communication",
                    title="Chat message",
                    description=f"{events_label} wrote a chat message.",
                    actor_type="Partner user" if role != 1 else "Creditor user",
                    actor_name=f"{first} {last}",
                )
            )
        case.timeline.sort(key=lambda t: t.date)

    for k in range(_int(rng, 0, 3)):
        kind, ext = _pick(
            rng,
            [
                ("OriginalInvoice", ".pdf"),
                ("CreditorDocuments", ".pdf"),
                ("DebtorDocuments", ".eml"),
                ("Miscellaneous", ".png"),
                (None, ".txt"),
            ],
        )
        stamp = iso(created + timedelta(hours=k + 1))
        name = f"{(kind or 'document').lower()}-{case.reference}-{k + 1}{ext}"
        case.files.append(
            FileRec(
                id=rng_uuid(rng),
                date_created=stamp,
                date_updated=stamp,
                file_name=name,
                description=_pick(rng, [None, "Uploaded by the creditor", "Original claim document"]),
                document_type=kind,
                entity_type="Invoice",
                size=0,
                content_b64=None,
            )
        )


def seeded_file_content(f: FileRec, case_reference: str) -> bytes:
    """Bytes served for a seeded file (generated, stable for the file id)."""
    if f.content_b64 is not None:
        return base64.b64decode(f.content_b64)
    return (f"Sandbox document {f.file_name}\nCase {case_reference}\nFile id {f.id}\n").encode()
