"""The direct messages a fetch's diff owes a case's assignee. Pure (called by bot.relay.diff).

One DM per event per person: its id (`dm:<event>:<case id>:<what>:<person>`, unique in the person's DM
channel, where the repair after a crash looks for it) is the exactly-once record's field
in `relayed(case_id)`, like a channel item's, and it goes to the person's own lane `dm:<email>`, so a
DM held for quiet hours never holds up the case channel.

Events: the case newly assigned to them (an assignee change, or a case first seen through a webhook,
Debitura's `case.assigned`, or created within NEW_CASE_WINDOW), a creditor chat, validation asking
for information (needsInfo turned true), a payment, the case closed. Baselines (first sight of a
stream) owe nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from blocks.notify import (
    CaseLine,
    build_assigned_dm,
    build_closed_dm,
    build_creditor_chat_dm,
    build_needs_info_dm,
    build_payment_dm,
)
from bot.relay.model import Delivery
from bot.store.notify import dm_lane
from bot.store.snapshots import CaseSnap, ChatSnap, PaymentSnap, decimal_or_none, short_hash

NEW_CASE_WINDOW = 24 * 3600.0
"""A case first seen (by a webhook, or the sweep when it was quicker) counts as newly assigned when
Debitura created it this recently; older cases found on a first start owe nobody a DM."""


def case_line(case: CaseSnap) -> CaseLine:
    return CaseLine(case_id=case.id, reference=case.reference, debtor=case.debtor,
                    outstanding=case.outstanding, currency=case.currency, lifecycle=case.lifecycle,
                    lifecycle_display=case.lifecycle_display)


def person_key(email: str) -> str:
    return short_hash(email.strip().lower(), 10)


def needs_info(case: CaseSnap | None) -> bool:
    """`validation.needsInfo` as the extended snapshot keeps it (False when not known)."""
    return bool(getattr(case, "needs_info", False)) if case is not None else False


def dm(*, case: CaseSnap, email: str, event: str, what: str, kind: str, pref: str,
       message: tuple[str, list[dict[str, Any]]], at: float, path: str, hold: bool = True) -> Delivery:
    text, blocks = message
    return Delivery(id=f"dm:{event}:{case.id}:{what}:{person_key(email)}", case_id=case.id, kind=kind,
                    op="dm", text=text,
                    blocks=blocks, at=at, path=path, case=case, lane=dm_lane(email), to=email.strip().lower(),
                    hold=hold, pref=pref)


def notices(*, case_id: str, old: CaseSnap | None, new: CaseSnap | None, out: Sequence[Delivery],
            chats: Sequence[ChatSnap] | None, payments: Sequence[PaymentSnap] | None, path: str,
            now: float, first_fetch: bool = False) -> list[Delivery]:
    """The DMs owed for what the diff found (`out`: its channel deliveries). `first_fetch`: the relay
    never fetched the case before (the sweep may have stored its listed snapshot as `old` already)."""
    case = new or old
    if case is None or not case.assignee_email:
        return []
    email = case.assignee_email
    line = case_line(case)
    result: list[Delivery] = []
    if new is not None:
        at = new.date_updated or now
        stamp = f"{at:.0f}"
        fresh = path == "webhook" or (new.created > 0 and now - new.created <= NEW_CASE_WINDOW)
        assigned = ((old is None or first_fetch) and fresh) or (
            old is not None and not first_fetch
            and old.assignee_email.strip().lower() != email.strip().lower())
        if assigned:
            result.append(dm(case=new, email=email, event="assigned", what=stamp, kind="dm_assigned",
                             pref="dm:assigned", message=build_assigned_dm(line), at=at, path=path))
        if old is not None and not first_fetch and needs_info(new) and not needs_info(old):
            result.append(dm(case=new, email=email, event="needs_info", what=stamp, kind="dm_needs_info",
                             pref="dm:needs_info", message=build_needs_info_dm(line), at=at, path=path))
    by_chat = {c.id: c for c in chats or ()}
    by_payment = {p.id: p for p in payments or ()}
    for d in out:
        if d.op != "post" or d.path == "backfill":
            continue
        if d.kind == "chat":
            chat = by_chat.get(d.id.split(":", 1)[1])
            if chat is None or not chat.from_creditor:
                continue
            result.append(dm(case=case, email=email, event="chat", what=chat.id, kind="dm_chat",
                             pref="dm:creditor_chat",
                             message=build_creditor_chat_dm(line, author=chat.author, message=chat.message,
                                                            at=chat.created),
                             at=chat.created or now, path=d.path))
        elif d.kind == "payment":
            payment = by_payment.get(d.id.split(":", 1)[1])
            if payment is None:
                continue
            result.append(dm(case=case, email=email, event="pay", what=payment.id, kind="dm_payment",
                             pref="dm:payment",
                             message=build_payment_dm(line, amount=payment.amount, currency=payment.currency),
                             at=d.at or now, path=d.path))
        elif d.kind == "closed" and new is not None:
            result.append(dm(case=new, email=email, event="closed", what=d.id.split(":", 1)[1],
                             kind="dm_closed", pref="dm:closed",
                             message=build_closed_dm(line, close_code=new.close_code),
                             at=d.at or now, path=d.path))
    return result


def utc_day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")



def day_counts(out: Sequence[Delivery], payments: Sequence[PaymentSnap] | None) -> dict[str, float]:
    """What one fetch adds to the day's team counts: `pay:<currency>` (amounts of new payments) and
    `close:<close code>`; the fetch adds `new` for a case first seen through a webhook or the sweep."""
    counts: dict[str, float] = {}
    by_payment = {p.id: p for p in payments or ()}
    for d in out:
        if d.op != "post" or d.path == "backfill":
            continue
        if d.kind == "payment":
            payment = by_payment.get(d.id.split(":", 1)[1])
            amount = decimal_or_none(payment.amount) if payment is not None else None
            if payment is not None and amount is not None:
                name = f"pay:{(payment.currency or '?').upper()}"
                counts[name] = counts.get(name, 0.0) + float(amount)
        elif d.kind == "closed":
            name = f"close:{(d.case.close_code if d.case is not None else '') or 'none'}"
            counts[name] = counts.get(name, 0.0) + 1
    return counts
