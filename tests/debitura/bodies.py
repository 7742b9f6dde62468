"""Realistic response bodies, shaped after docs/debitura/openapi.yaml and REFERENCE.md."""

from __future__ import annotations

import json
from typing import Any

CASE_ID = "3f2c8a9e-6b1d-4c52-9a77-0e5b8d41c2aa"
CASE_ID_2 = "7a1e4f20-93c5-4b8e-8d16-2c7f9e0b5d31"
CREDITOR_ID = "b6d0c3e1-5a4f-4e2b-9c88-1f7a2d9e6c40"
PAYMENT_ID = "0c9e7b5a-3d1f-4a6e-8b2c-5e4d3c2b1a09"
WEBHOOK_ID = "5e8a2c1b-7d4f-4b3a-9e6c-0a1b2c3d4e5f"
EVENT_ID = "9d8c7b6a-5e4f-4d3c-8b2a-1f0e9d8c7b6a"


def case(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": CASE_ID,
        "dateCreated": "2026-03-02T08:15:00Z",
        "dateUpdated": "2026-04-07T10:34:35.214Z",
        "reference": "Q8OAXF3W",
        "creditorReference": "INV-2026-0042",
        "creditorComments": "Customer stopped answering in February.",
        "claimDescription": "Unpaid invoice for consulting services",
        "grossAmount": 1250.5,
        "remainder": 1335.75,
        "interestFees": 40.25,
        "reminderFees": 20,
        "collectionFees": 25,
        "totalAddedFees": 85.25,
        "currency": "EUR",
        "isTestCase": False,
        "lifecycle": "More Info Required",
        "dueDate": "2026-01-31T00:00:00Z",
        "date": "2026-01-01T00:00:00Z",
        "dateFinished": None,
        "dateCollectionStarted": "2026-03-03T09:00:00Z",
        "closeCode": None,
        "currentEngagementPhase": "Pre-legal",
        "claimType": "Unpaid Invoice",
        "creditorDivisionId": None,
        "debtor": {
            "type": "Company",
            "name": "Nordlicht GmbH",
            "contactPerson": "Jana Weber",
            "companyRegistrationNumber": "HRB 12345",
            "address": "Hafenstrasse 1",
            "zipCode": "20457",
            "city": "Hamburg",
            "state": None,
            "stateAlpha2": None,
            "countryAlpha2": "DE",
            "country": "Germany",
            "email": "ap@nordlicht.example",
            "phone": "+49 40 123456",
        },
        "collectionPartner": {
            "name": "Acme Collections",
            "officeEmail": "office@acme.example",
            "officePhone": "+45 1234",
            "publicSite": "https://acme.example",
            "surveyCadenceMode": 0,
        },
        "creditor": {
            "id": CREDITOR_ID,
            "companyName": "Blue Fjord ApS",
            "companyRegistrationNumber": "DK12345678",
            "officeEmail": "finance@bluefjord.example",
            "officePhone": None,
            "address": "Strandvejen 10",
            "city": "Copenhagen",
            "zipCode": "2100",
            "state": None,
            "country": "Denmark",
            "division": None,
        },
        "bankAccount": None,
        "blendedAgeUpliftPoints": None,
        "preLegalSuccessFee": 20.5,
        "solutionUrl": None,
        "signingHandoff": None,
        "exclusivePeriodEndDate": "2026-09-03T09:00:00Z",
        "disputeStatus": "No, the claim is not disputed",
        "validation": {"needsInfo": True},
        "assignedUser": {"email": "mia@acme.example", "name": "Mia Jensen"},
        "allocationOutstanding": {
            "principal": 1250.5,
            "interest": 40.25,
            "reminderFees": 20,
            "collectionFees": 25,
        },
    }
    body.update(overrides)
    return body


def page(current: int, total_pages: int, size: int, count: int, total: int) -> dict[str, int]:
    return {
        "totalResults": total,
        "pageSize": size,
        "currentPage": current,
        "responseCount": count,
        "totalPages": total_pages,
    }


ME = {
    "id": "1b2c3d4e-5f60-4718-a9b0-c1d2e3f40516",
    "companyName": "Acme Collections A/S",
    "logoUrl": None,
    "companyRegistrationNumber": "DK87654321",
    "vatNumber": "DK87654321",
    "address": "Vesterbrogade 1",
    "zipCode": "1620",
    "city": "Copenhagen",
    "state": None,
    "country": "Denmark",
    "officeEmail": "office@acme.example",
    "officePhone": "+45 1234 5678",
    "invoiceEmail": "invoices@acme.example",
    "billingContact": "Finance",
    "invoiceCurrency": 3,
    "commissionType": 0,
    "preLegalRevenueShare": 0.40,
    "legalRevenueShare": 0.20,
    "verifiedProfile": True,
    "fullAddress": "Vesterbrogade 1, 1620 Copenhagen",
    "surveyCadenceMode": 1,
}

USERS_PAGE_1 = {
    "page": page(1, 2, 2, 2, 3),
    "users": [
        {"id": "a0000000-0000-4000-8000-000000000001", "name": "Mia Jensen", "email": "mia@acme.example"},
        {"id": "a0000000-0000-4000-8000-000000000002", "name": "Lars Holm", "email": "lars@acme.example"},
    ],
}
USERS_PAGE_2 = {
    "page": page(2, 2, 2, 1, 3),
    "users": [
        {"id": "a0000000-0000-4000-8000-000000000003", "name": "Ida Berg", "email": "ida@acme.example"}
    ],
}

TIMELINE: dict[str, Any] = {
    "items": [
        {
            "date": "2026-03-03T09:00:00Z",
            "type": "Lifecycle",
            "title": "Case activated",
            "description": "The case moved to Active.",
            "actor": {"type": "Partner user", "name": "Mia Jensen"},
        },
        {
            "date": "2026-04-01T12:30:00.5Z",
            "type": "Note",
            "title": "Note added",
            "description": "Called the debtor; promised payment by Friday.",
            "actor": None,
        },
    ],
    "currentEngagementPhase": "Pre-legal",
}

CHAT = {
    "id": "c1c1c1c1-0000-4000-8000-000000000001",
    "dateCreated": "2026-04-02T08:00:00Z",
    "dateUpdated": None,
    "role": 0,
    "roleLabel": "Partner",
    "message": "We have contacted the debtor and expect payment this week.",
    "isSeen": False,
    "user": {
        "id": 4711,
        "dateCreated": "2025-01-01T00:00:00Z",
        "dateUpdated": None,
        "firstName": "Mia",
        "lastName": "Jensen",
        "email": "mia@acme.example",
    },
}
CHAT_FROM_CREDITOR = {
    "id": "c1c1c1c1-0000-4000-8000-000000000002",
    "dateCreated": "2026-04-02T09:00:00Z",
    "dateUpdated": "2026-04-02T09:05:00Z",
    "role": 1,
    "roleLabel": "Creditor",
    "message": "Thanks, keep me posted.",
    "isSeen": True,
    "user": None,
}

PAYMENT = {
    "id": PAYMENT_ID,
    "dateCreated": "2026-04-05T10:00:00Z",
    "dateUpdated": None,
    "date": "2026-04-04T00:00:00Z",
    "grossAmount": 500.1,
    "recipient": "CollectionPartner",
    "method": "BankTransfer",
    "currency": "EUR",
    "invoice": {"status": "Active", "reference": "Q8OAXF3W", "invoiceId": CASE_ID},
}

CREATE_PAYMENT_RESPONSE = {
    "paymentId": PAYMENT_ID,
    "caseReference": "Q8OAXF3W",
    "date": "2025-11-19T00:00:00Z",
    "paymentAmount": 500.1,
    "payoutCreditor": 400.08,
    "payoutCollectionPartner": 100.02,
    "paymentRecipient": "CollectionPartner",
    "commissionPaymentStatus": "Paid",
    "closeCase": False,
    "caseClosed": False,
    "closeCode": None,
    "remainingAmount": 835.65,
    "warnings": [],
}

CASE_FILE = {
    "id": "f1f1f1f1-0000-4000-8000-000000000001",
    "dateCreated": "2026-04-06T10:00:00Z",
    "dateUpdated": "2026-04-06T10:00:00Z",
    "caseId": CASE_ID,
    "entityType": "Invoice",
    "entityId": CASE_ID,
    "fileName": "letter.pdf",
    "url": "https://files.debitura.example/letter.pdf?sig=abc",
    "description": "First demand letter",
    "documentType": "DemandLetter",
}

NOTE = {
    "id": "e0e0e0e0-0000-4000-8000-000000000001",
    "caseReference": "Q8OAXF3W",
    "title": "Note",
    "description": "Debtor promised to pay on Friday.",
    "visibility": "Creditor",
    "createdAt": "2026-04-07T10:00:00Z",
    "eventDate": "2025-11-14T09:30:00Z",
    "createdBy": {"userId": 4711, "userName": "Mia Jensen"},
}

CLOSE_RESPONSE = {
    "caseReference": "Q8OAXF3W",
    "closeCode": "PartiallyPaid",
    "closeCodeDescription": "Partially paid",
    "comment": "Debtor paid half; creditor agreed to stop.",
    "closedAt": "2026-04-08T10:00:00Z",
    "closedBy": {"userId": 4711, "userName": "Mia Jensen"},
    "finalOutstandingAmount": 835.65,
    "totalPayments": 500.1,
    "totalRecovered": 500.1,
}

START_RESPONSE = {
    "caseId": CASE_ID,
    "caseReference": "Q8OAXF3W",
    "status": "Active",
    "activatedAt": "2026-04-08T11:00:00Z",
    "collectionPartnerReference": "ACME-2026/17 & 18",
}

FEES_RESPONSE = {
    "caseId": CASE_ID,
    "grossAmount": 1300,
    "interestFees": 45.5,
    "reminderFees": 20,
    "collectionFees": 30,
    "totalAddedFees": 95.5,
    "recalculatedSuccessFee": 19.75,
    "remainder": 895.4,
}

PRICE_CHANGE = {
    "caseId": CASE_ID,
    "confirmationRequired": True,
    "isIntentionalRate": False,
    "currentSuccessFee": 20.5,
    "proposedSuccessFee": 18.25,
    "warning": "The success fee will change from 20.5% to 18.25%.",
    "message": "Resend with confirmPriceChange=true to apply.",
}

EXCLUSIVE_PERIOD = {
    "engagementStartDate": "2026-03-03T09:00:00Z",
    "currentEndDate": "2026-10-03T09:00:00Z",
    "daysRemaining": 178,
    "status": "Active",
    "extensions": [
        {"type": "PromiseToPay", "eventDate": "2026-04-01T12:00:00Z", "newEndDate": "2026-10-03T09:00:00Z"}
    ],
}

VALIDATION = {
    "needsInfo": True,
    "creditorRespondedAt": None,
    "items": [{"resolutionArea": "InvoiceDocuments", "description": "Upload the original invoice."}],
}

WEBHOOK = {
    "id": WEBHOOK_ID,
    "url": "https://caseroom.example/debitura/webhooks",
    "events": ["case.updated", "chat.created"],
    "isActive": True,
    "createdUtc": "2026-04-01T00:00:00Z",
    "updatedUtc": "2026-04-01T00:00:00Z",
    "disabledReason": None,
    "secret": None,
    "isTestMode": False,
}

WEBHOOK_EVENT = {
    "id": EVENT_ID,
    "subscriptionId": WEBHOOK_ID,
    "caseId": CASE_ID,
    "eventType": "chat.created",
    "payload": json.dumps(
        {"id": EVENT_ID, "specVersion": "1.0", "event": "chat.created", "data": {"caseId": CASE_ID}}
    ),
    "createdAt": "2026-04-02T08:00:01Z",
    "deliveredAt": "2026-04-02T08:00:03Z",
    "attemptCount": 1,
    "lastResponseCode": 200,
    "lastError": None,
}

REPLAY = {"eventId": EVENT_ID, "subscriptionId": WEBHOOK_ID, "eventType": "chat.created"}

# ---------------------------------------------------------------- managed cases, test cases, ingestion

JOB_ID = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"

MANAGED_PAYMENT_RESPONSE = {
    "paymentId": PAYMENT_ID,
    "caseReference": "Q8OAXF3W",
    "date": "2026-01-15T00:00:00Z",
    "paymentAmount": 250.5,
    "caseClosed": False,
    "remainingAmount": 749.5,
}
ADVANCED = {"advanced": True, "state": "Closed:Paid"}
FIRED = {"eventType": "payment.created", "caseId": CASE_ID, "enqueuedCount": 1}
REPLAYED_LAST = {"eventId": EVENT_ID, "subscriptionId": WEBHOOK_ID, "eventType": "case.updated"}
JOB_CREATED = {"jobId": JOB_ID, "rowsQueued": 2}
JOB_STATUS = {"status": 2, "rowsTotal": 2, "rowsSucceeded": 1, "rowsFailed": 1}
