"""Realistic Debitura payloads (camelCase, as the API sends them) for builder tests."""

from __future__ import annotations

from typing import Any

from bot.debitura.models import Case, CaseFile, ExclusivePeriod, Payment, Timeline, ValidationStatus

CASE_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
LONG = "Ø" * 10_000


def case_json(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": CASE_ID,
        "reference": "Q8OAXF3W",
        "dateCreated": "2026-01-10T09:00:00Z",
        "dateUpdated": "2026-11-20T12:30:00Z",
        "dueDate": "2025-12-01T00:00:00Z",
        "grossAmount": 1234.5,
        "interestFees": 10,
        "reminderFees": 5.25,
        "collectionFees": 40,
        "totalAddedFees": 55.25,
        "remainder": 1039.75,
        "currency": "EUR",
        "lifecycle": "Active",
        "currentEngagementPhase": "Pre-legal",
        "exclusivePeriodEndDate": "2026-12-06T00:00:00Z",
        "creditorReference": "INV-77",
        "debtor": {"type": "Company", "name": "Müller & <Söhne> GmbH", "country": "Germany",
                   "countryAlpha2": "DE"},
        "creditor": {"id": "0b6c2f0e-1111-4c6e-9d5f-3c1e8e1a2b3c", "companyName": "Acme A/S",
                     "division": {"id": "d1", "name": "Nordics"}},
        "validation": {"needsInfo": False},
        "assignedUser": {"email": "jane@agency.example", "name": "Jane Agent"},
    }
    data.update(overrides)
    return data


def make_case(**overrides: Any) -> Case:
    return Case.model_validate(case_json(**overrides))


def longest_case(**overrides: Any) -> Case:
    """Every free-text field at absurd length, with characters that need escaping."""
    evil = "<!channel> & <http://x|y> " * 400
    return make_case(
        debtor={"type": "Company " * 50, "name": evil, "country": evil},
        creditor={"id": "x", "companyName": evil, "division": {"id": "d", "name": evil}},
        creditorReference=evil,
        claimDescription=LONG,
        assignedUser={"name": evil, "email": "a@b.c"},
        currentEngagementPhase=evil,
        lifecycle="Closed",
        closeCode="Disputed \u2013 Legal Action Declined by Client",
        isTestCase=True,
        **overrides,
    )


def make_payments(n: int, *, text: str = "Bank transfer") -> list[Payment]:
    return [
        Payment.model_validate({
            "id": f"00000000-0000-0000-0000-{i:012d}",
            "date": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T00:00:00Z",
            "grossAmount": 10 + i,
            "recipient": "CollectionPartner",
            "method": text,
            "currency": "EUR",
            "invoice": {"status": "Invoiced", "reference": f"INV-{i}", "invoiceId": str(i)},
        })
        for i in range(n)
    ]


def make_timeline(n: int, *, description: str = "Called the debtor.") -> Timeline:
    return Timeline.model_validate({
        "items": [
            {"date": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00Z", "type": "Note",
             "title": f"Note {i}", "description": description,
             "actor": {"type": "Partner user", "name": "Jane <Agent>"}}
            for i in range(n)
        ],
        "currentEngagementPhase": "Legal",
    })


def make_files(n: int, *, description: str = "Signed contract") -> list[CaseFile]:
    return [
        CaseFile.model_validate({
            "id": f"f{i}", "dateCreated": "2026-03-01T00:00:00Z", "fileName": f"contract|{i}>.pdf",
            "url": f"https://files.example/{i}?sig=a&b=c", "description": description,
            "documentType": "OriginalInvoice",
        })
        for i in range(n)
    ]


def make_period(extensions: int = 2) -> ExclusivePeriod:
    return ExclusivePeriod.model_validate({
        "engagementStartDate": "2026-06-06T00:00:00Z", "currentEndDate": "2026-12-06T00:00:00Z",
        "daysRemaining": 10, "status": "Active",
        "extensions": [{"type": "PromiseToPay", "eventDate": "2026-09-01T00:00:00Z",
                        "newEndDate": "2026-12-06T00:00:00Z"}] * extensions,
    })


def make_validation(items: int = 2, *, description: str = "Upload the original invoice") -> ValidationStatus:
    return ValidationStatus.model_validate({
        "needsInfo": items > 0, "creditorRespondedAt": None,
        "items": [{"resolutionArea": "Documents", "description": description}] * items,
    })
