"""In-memory sandbox state: the records, their indexes and their wire shapes.

Indexes: by case id, by Debitura reference, by our partner reference, by (creditor id, creditor
reference). The wire dict of each case is cached and dropped when the case changes (`touch`), and
sorted id lists for `GET /cases` are cached per sort spec until any case changes, so listing stays
fast at 10,000 cases.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.sandbox import seed as seeding
from bot.sandbox.enums import (
    CHAT_ROLE_LABELS,
    CLOSE_CODE_DISPLAY,
    CLOSE_CODES,
    HIDDEN_LIFECYCLES,
    LIFECYCLE_DISPLAY,
    LIFECYCLES,
)
from bot.sandbox.model import (
    CaseRec,
    ChatRec,
    Creditor,
    FileRec,
    Partner,
    PaymentRec,
    TeamUser,
    TimelineRec,
    case_from_dict,
    creditor_from_dict,
    iso,
    money,
    now,
    parse_iso,
    to_dict,
)

STATE_FORMAT = 1


def dump(value: Any) -> bytes:
    """JSON bytes as Starlette's JSONResponse renders them."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


SORT_FIELDS: dict[str, Callable[[CaseRec], Any]] = {
    "datecreated": lambda c: c.date_created,
    "dateupdated": lambda c: c.date_updated,
    "datefinished": lambda c: c.date_finished,
    "datecollectionstarted": lambda c: c.date_collection_started,
    "duedate": lambda c: c.due_date,
    "date": lambda c: c.date,
    "grossamount": lambda c: c.gross_amount,
    "remainder": lambda c: c.remainder,
    "interestfees": lambda c: c.interest_fees,
    "collectionfees": lambda c: c.collection_fees,
    "reminderfees": lambda c: c.reminder_fees,
    "lifecycle": lambda c: LIFECYCLES.index(c.lifecycle),
    "closecode": lambda c: CLOSE_CODES.index(c.close_code) if c.close_code else None,
}


def order_cases(cases: list[CaseRec], spec: tuple[tuple[str, bool], ...]) -> list[CaseRec]:
    """`cases` in `spec` order (then DateCreated, id), the way GET /cases sorts."""
    rows = sorted(cases, key=lambda c: (c.date_created, c.id))
    for name, desc in reversed(spec):
        getter = SORT_FIELDS[name]
        present = [c for c in rows if getter(c) is not None]
        absent = [c for c in rows if getter(c) is None]
        present.sort(key=getter, reverse=desc)
        # SQL Server order: NULLs first ascending, last descending.
        rows = present + absent if desc else absent + present
    return rows


@dataclass
class Event:
    """A webhook-worthy change, handed to the webhook dispatcher."""

    event: str
    case: CaseRec
    data: dict[str, Any] = field(default_factory=dict)


class State:
    def __init__(self, seed: int, n_cases: int, api_key: str | None = None) -> None:
        self.seed = seed
        self.n_cases = n_cases
        self.fixed_api_key = api_key
        self.listeners: list[Callable[[Event], None]] = []
        self.dirty = False
        self.load_world(seed, n_cases)

    # ---------- building ----------
    def load_world(self, seed: int, n_cases: int) -> None:
        world = seeding.build_world(seed, n_cases)
        self.seed, self.n_cases = seed, n_cases
        self.partner: Partner = world.partner
        self.users: list[TeamUser] = world.users
        self.creditors: dict[str, Creditor] = {c.id: c for c in world.creditors}
        self.api_keys: list[str] = [self.fixed_api_key or world.api_key]
        self.deleted_test_ids: set[str] = set()  # hard-deleted test cases: deleting again is a 204
        self.cases: dict[str, CaseRec] = {}
        self._index_all(world.cases)
        self.dirty = True

    def _index_all(self, cases: list[CaseRec]) -> None:
        self.cases = {c.id: c for c in cases}
        self.by_reference: dict[str, CaseRec] = {}
        self.by_partner_ref: dict[str, CaseRec] = {}
        self.by_creditor_ref: dict[tuple[str, str], CaseRec] = {}
        self.ours: list[CaseRec] = []
        for c in cases:
            self._index(c)
        self.version = 0
        self._wire: dict[str, dict[str, Any]] = {}
        self._wire_bytes: dict[str, bytes] = {}
        self._sorted: dict[tuple[tuple[str, bool], ...], list[CaseRec]] = {}
        self._listed: dict[tuple[Any, ...], list[CaseRec]] = {}
        self._sorted_version = -1

    def _index(self, c: CaseRec) -> None:
        self.by_reference[c.reference.upper()] = c
        if c.partner_id == self.partner.id:
            self.ours.append(c)
            if c.partner_reference:
                self.by_partner_ref[c.partner_reference] = c
            if c.creditor_reference:
                self.by_creditor_ref[(c.creditor_id, c.creditor_reference)] = c

    def add_case(self, c: CaseRec) -> None:
        self.cases[c.id] = c
        self._index(c)
        self.touch(c, bump=False)

    def remove_case(self, c: CaseRec) -> None:
        """Hard-delete a case (test cases only reach this): gone from every index and listing."""
        self.cases.pop(c.id, None)
        if self.by_reference.get(c.reference.upper()) is c:
            del self.by_reference[c.reference.upper()]
        if c.partner_reference and self.by_partner_ref.get(c.partner_reference) is c:
            del self.by_partner_ref[c.partner_reference]
        if c.creditor_reference and self.by_creditor_ref.get((c.creditor_id, c.creditor_reference)) is c:
            del self.by_creditor_ref[(c.creditor_id, c.creditor_reference)]
        self.ours = [x for x in self.ours if x is not c]
        self.touch(c, bump=False)

    def managed(self) -> list[CaseRec]:
        """Cases we submitted as managing partner (POST /managed-cases), oldest first."""
        return sorted(
            (c for c in self.cases.values() if c.managing_partner_id == self.partner.id),
            key=lambda c: (c.date_created, c.id),
        )

    def find_managed(self, case_id: str) -> CaseRec | None:
        c = self.cases.get(case_id)
        return c if c is not None and c.managing_partner_id == self.partner.id else None

    def find_owned(self, case_id: str) -> CaseRec | None:
        """A case we collect (visible) or submitted: what the test endpoints may touch."""
        return self.find(case_id) or self.find_managed(case_id)

    # ---------- change tracking ----------
    def touch(self, c: CaseRec, *, bump: bool = True) -> None:
        """Record that a case changed: drop caches, optionally bump dateUpdated."""
        if bump:
            c.date_updated = iso(now())
        self._wire.pop(c.id, None)
        self._wire_bytes.pop(c.id, None)
        self.version += 1
        self.dirty = True

    def set_partner_reference(self, c: CaseRec, ref: str | None) -> None:
        if c.partner_reference and self.by_partner_ref.get(c.partner_reference) is c:
            del self.by_partner_ref[c.partner_reference]
        c.partner_reference = ref
        if ref:
            self.by_partner_ref[ref] = c

    def emit(self, event: str, case: CaseRec, **data: Any) -> None:
        for listener in self.listeners:
            listener(Event(event, case, data))

    # ---------- lookups ----------
    def visible(self, c: CaseRec | None) -> bool:
        return c is not None and c.partner_id == self.partner.id and c.lifecycle not in HIDDEN_LIFECYCLES

    def find(self, case_id: str) -> CaseRec | None:
        c = self.cases.get(case_id)
        return c if self.visible(c) else None

    def materialize(self, c: CaseRec) -> CaseRec:
        if c.seed_index >= 0:
            seeding.materialize(c, self.seed, self.users, self.creditors[c.creditor_id])
            self.dirty = True
        return c

    def user_by_email(self, email: str) -> TeamUser | None:
        e = email.strip().lower()
        return next((u for u in self.users if u.active and u.email.lower() == e), None)

    def user_by_id(self, user_id: str) -> TeamUser | None:
        u = user_id.strip().lower()
        return next((x for x in self.users if x.active and x.id == u), None)

    # ---------- listing ----------
    def _check_version(self) -> None:
        if self._sorted_version != self.version:
            self._sorted.clear()
            self._listed.clear()
            self._sorted_version = self.version

    def listing(
        self, spec: tuple[tuple[str, bool], ...], include_test: bool, statuses: frozenset[str] | None
    ) -> list[CaseRec]:
        """Visible cases in `spec` order, filtered by test flag and lifecycle (cached until a change)."""
        self._check_version()
        key = (spec, include_test, statuses)
        hit = self._listed.get(key)
        if hit is not None:
            return hit
        rows = [
            c
            for c in self.sorted_cases(spec)
            if c.lifecycle not in HIDDEN_LIFECYCLES
            and (include_test or not c.is_test)
            and (statuses is None or c.lifecycle in statuses)
        ]
        self._listed[key] = rows
        return rows

    def sorted_cases(self, spec: tuple[tuple[str, bool], ...]) -> list[CaseRec]:
        self._check_version()
        hit = self._sorted.get(spec)
        if hit is not None:
            return hit
        rows = order_cases(self.ours, spec)
        self._sorted[spec] = rows
        return rows

    # ---------- wire shapes ----------
    def case_json(self, c: CaseRec) -> dict[str, Any]:
        cached = self._wire.get(c.id)
        if cached is not None:
            return cached
        creditor = self.creditors[c.creditor_id]
        division = next((d for d in creditor.divisions if d.id == c.division_id), None)
        assigned = next((u for u in self.users if u.id == c.assigned_user_id), None)
        outstanding = self._allocation(c)
        wire: dict[str, Any] = {
            "id": c.id,
            "dateCreated": c.date_created,
            "dateUpdated": c.date_updated,
            "reference": c.reference,
            "creditorReference": c.creditor_reference,
            "creditorComments": c.creditor_comments,
            "claimDescription": c.claim_description,
            "grossAmount": c.gross_amount,
            "remainder": c.remainder,
            "interestFees": c.interest_fees,
            "reminderFees": c.reminder_fees,
            "collectionFees": c.collection_fees,
            "totalAddedFees": c.total_fees,
            "currency": c.currency,
            "isTestCase": c.is_test,
            "lifecycle": LIFECYCLE_DISPLAY[c.lifecycle],
            "dueDate": c.due_date,
            "date": c.date,
            "dateFinished": c.date_finished,
            "dateCollectionStarted": c.date_collection_started,
            "closeCode": CLOSE_CODE_DISPLAY[c.close_code] if c.close_code else None,
            "currentEngagementPhase": c.engagement_phase,
            "claimType": c.claim_type,
            "creditorDivisionId": c.division_id,
            "debtor": c.debtor,
            "collectionPartner": {
                "name": self.partner.company_name,
                "officeEmail": self.partner.office_email,
                "officePhone": self.partner.office_phone,
                "publicSite": self.partner.public_site,
                "surveyCadenceMode": 0,
            }
            if c.partner_id == self.partner.id
            else {
                "name": seeding.OTHER_PARTNER_NAME,
                "officeEmail": "office@baltic-recovery.example",
                "officePhone": "+372 600 1000",
                "publicSite": "https://baltic-recovery.example",
                "surveyCadenceMode": 0,
            },
            "creditor": {
                "id": creditor.id,
                "companyName": creditor.company_name,
                "companyRegistrationNumber": creditor.registration,
                "officeEmail": creditor.office_email,
                "officePhone": creditor.office_phone,
                "address": creditor.address,
                "city": creditor.city,
                "zipCode": creditor.zip_code,
                "state": None,
                "country": creditor.country,
                "division": {"id": division.id, "name": division.name} if division else None,
            },
            "bankAccount": c.bank_account,
            "blendedAgeUpliftPoints": c.blended_age_uplift,
            "preLegalSuccessFee": c.success_fee,
            "solutionUrl": None,
            "signingHandoff": None,
            "exclusivePeriodEndDate": c.exclusive_period.end if c.exclusive_period else None,
            "disputeStatus": c.dispute_status,
            "validation": {"needsInfo": c.needs_info},
            "assignedUser": {"email": assigned.email, "name": assigned.name} if assigned else None,
            "allocationOutstanding": outstanding,
        }
        self._wire[c.id] = wire
        return wire

    def case_bytes(self, c: CaseRec) -> bytes:
        """The case as compact JSON bytes (cached with the wire dict)."""
        cached = self._wire_bytes.get(c.id)
        if cached is None:
            cached = dump(self.case_json(c))
            self._wire_bytes[c.id] = cached
        return cached

    @staticmethod
    def _allocation(c: CaseRec) -> dict[str, float]:
        """Payments go to collection fees, then reminder fees, then interest, then principal."""
        paid = c.total_payments
        parts = {
            "collectionFees": c.collection_fees,
            "reminderFees": c.reminder_fees,
            "interest": c.interest_fees,
            "principal": c.gross_amount,
        }
        left: dict[str, float] = {}
        for name, amount in parts.items():
            used = min(amount, paid)
            paid = money(paid - used)
            left[name] = money(amount - used)
        return {
            "principal": left["principal"],
            "interest": left["interest"],
            "reminderFees": left["reminderFees"],
            "collectionFees": left["collectionFees"],
        }

    @staticmethod
    def chat_json(ch: ChatRec) -> dict[str, Any]:
        return {
            "id": ch.id,
            "dateCreated": ch.date_created,
            "dateUpdated": ch.date_updated,
            "role": ch.role,
            "roleLabel": CHAT_ROLE_LABELS.get(ch.role, "Unknown"),
            "message": ch.message,
            "isSeen": ch.is_seen,
            "user": {
                "id": ch.user_int_id,
                "dateCreated": None,
                "dateUpdated": None,
                "firstName": ch.user_first,
                "lastName": ch.user_last,
                "email": ch.user_email,
            },
        }

    @staticmethod
    def timeline_json(t: TimelineRec) -> dict[str, Any]:
        return {
            "date": t.date,
            "type": t.type,
            "title": t.title,
            "description": t.description,
            "actor": {"type": t.actor_type, "name": t.actor_name},
        }

    @staticmethod
    def payment_json(c: CaseRec, p: PaymentRec) -> dict[str, Any]:
        return {
            "id": p.id,
            "dateCreated": p.date_created,
            "dateUpdated": p.date_updated,
            "date": p.date,
            "grossAmount": p.amount,
            "recipient": p.recipient,
            "method": p.method,
            "currency": c.currency,
            "invoice": {
                "status": LIFECYCLE_DISPLAY[c.lifecycle],
                "reference": c.reference,
                "invoiceId": c.id,
            },
        }

    @staticmethod
    def file_json(c: CaseRec, f: FileRec, url: str) -> dict[str, Any]:
        return {
            "id": f.id,
            "dateCreated": f.date_created,
            "dateUpdated": f.date_updated,
            "caseId": c.id,
            "entityType": f.entity_type,
            "entityId": c.id,
            "fileName": f.file_name,
            "url": url,
            "description": f.description,
            "documentType": f.document_type,
        }

    def exclusive_json(self, c: CaseRec) -> dict[str, Any] | None:
        ep = c.exclusive_period
        if ep is None:
            return None
        end = parse_iso(ep.end)
        current = now()
        if ep.terminated:
            status, days = "Terminated", 0
        else:
            delta = end - current
            days = delta.days if delta >= timedelta(0) else -((-delta).days)
            status = "Active" if end > current else "Expired"
        return {
            "engagementStartDate": ep.start,
            "currentEndDate": ep.end,
            "daysRemaining": days,
            "status": status,
            "extensions": list(ep.extensions),
        }

    def me_json(self) -> dict[str, Any]:
        p = self.partner
        return {
            "id": p.id,
            "companyName": p.company_name,
            "logoUrl": None,
            "companyRegistrationNumber": p.registration,
            "vatNumber": p.vat,
            "address": p.address,
            "zipCode": p.zip_code,
            "city": p.city,
            "state": None,
            "country": p.country,
            "officeEmail": p.office_email,
            "officePhone": p.office_phone,
            "invoiceEmail": p.invoice_email,
            "billingContact": "Anna Berg",
            "invoiceCurrency": 1,
            "commissionType": 0,
            "preLegalRevenueShare": 0.40,
            "legalRevenueShare": 0.20,
            "verifiedProfile": True,
            "fullAddress": f"{p.address}, {p.zip_code} {p.city}, {p.country}",
            "surveyCadenceMode": 0,
        }

    @staticmethod
    def user_json(u: TeamUser) -> dict[str, Any]:
        return {"id": u.id, "name": u.name, "email": u.email}

    # ---------- persistence ----------
    def to_snapshot(self) -> dict[str, Any]:
        for c in self.cases.values():
            self.materialize(c)
        return {
            "format": STATE_FORMAT,
            "seed": self.seed,
            "nCases": self.n_cases,
            "apiKeys": self.api_keys,
            "partner": to_dict(self.partner),
            "users": [to_dict(u) for u in self.users],
            "creditors": [to_dict(c) for c in self.creditors.values()],
            "cases": [to_dict(c) for c in self.cases.values()],
        }

    def from_snapshot(self, data: dict[str, Any]) -> None:
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"unsupported sandbox state format {data.get('format')!r}")
        self.seed, self.n_cases = int(data["seed"]), int(data["nCases"])
        self.partner = Partner(**data["partner"])
        self.users = [TeamUser(**u) for u in data["users"]]
        self.creditors = {c["id"]: creditor_from_dict(c) for c in data["creditors"]}
        self.api_keys = list(data["apiKeys"])
        if self.fixed_api_key and self.fixed_api_key not in self.api_keys:
            self.api_keys = [self.fixed_api_key, *self.api_keys]
        self._index_all([case_from_dict(c) for c in data["cases"]])
        self.dirty = False

    def save(self, path: Path, extra: dict[str, Any] | None = None) -> None:
        write_snapshot(path, self.take_snapshot(extra))

    def take_snapshot(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """A copy of everything to save (changes made afterwards mark the state dirty again)."""
        snapshot = self.to_snapshot()
        if extra:
            snapshot.update(extra)
        self.dirty = False
        return snapshot

    def load(self, path: Path) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        self.from_snapshot(data)
        return data


def write_snapshot(path: Path, snapshot: dict[str, Any]) -> None:
    """Write a snapshot atomically (temporary file, then rename). Safe to run in a worker thread: the
    snapshot is a copy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".sandbox-state-", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(snapshot, fh, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
