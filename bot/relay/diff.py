"""From what a fetch returned and what the relay already knew, the deliveries to queue. Pure.

What is known of a case lives in two Redis hashes (see bot/store/keys.py; their fields are owned by
bot/store/cases.py):

* its *state* (`CaseState`): last lifecycle, phase, topic, which streams have a baseline, when the
  relay first saw it, when it was last active;
* its *seen* hash, one short field per item ever accounted for: `c<hash(chat id)>` ->
  "<version>|<posted 0/1>", `t<hash(fingerprint)>` -> "", `p<hash(payment id)>` ->
  "amount|currency|date|recipient|method" (older entries: "amount|currency"; a change is an edit).

First sight of a stream is its baseline: nothing is posted, except items dated after the moment the
relay first saw the case (they happened while we were watching) and the newest `backfill` items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from blocks.relay import (
    TimelineEntry,
    build_chat_message,
    build_close_summary,
    build_lifecycle_message,
    build_payment_edit_message,
    build_payment_message,
    build_phase_message,
    build_reopened_message,
    build_timeline_messages,
    mark_test_case,
    payment_summary,
    timeline_summaries,
)
from bot.relay.model import Delivery
from bot.relay.notices import day_counts, notices
from bot.slack.channels import case_topic
from bot.store.cases import CaseState, chat_field, payment_field, timeline_field
from bot.store.snapshots import CaseSnap, ChatSnap, PaymentSnap, TimelineSnap, next_marks, short_hash

STREAMS = ("chats", "timeline", "payments")
FIRST_SEEN_SKEW = 5.0
"""Items dated up to this long before first sight still count as history (clock skew)."""


@dataclass
class Fetched:
    case: CaseSnap | None = None
    chats: Sequence[ChatSnap] | None = None
    timeline: Sequence[TimelineSnap] | None = None
    payments: Sequence[PaymentSnap] | None = None


@dataclass
class DiffResult:
    deliveries: list[Delivery]
    state: CaseState
    seen_set: dict[str, str]
    seen_del: list[str]
    counts: dict[str, float] = field(default_factory=dict)
    """The day's team counts this fetch adds (bot.relay.notices.day_counts)."""

    @property
    def active(self) -> bool:
        return any(d.op in ("post", "update") for d in self.deliveries)


CHAT_ECHO_WINDOW = 2.0
"""A timeline item about a chat, dated this close to a chat of the same fetch, only announces it."""


def announces_chat(item: TimelineSnap, chat_times: Sequence[float]) -> bool:
    """A timeline entry that only says a chat message was written (Debitura logs one per chat, in the
    "communication" category), next to the chat the relay posts itself: not posted twice. Only items
    that say "chat" in their type or title and are dated within CHAT_ECHO_WINDOW of a chat count."""
    if "chat" not in f"{item.type} {item.title}".lower():
        return False
    return any(abs(item.date - t) <= CHAT_ECHO_WINDOW for t in chat_times)


def summary_fields(snap: CaseSnap) -> tuple[object, ...]:
    """What the channel's pinned summary shows (bot.slack.channels.set_summary): a change posts it."""
    return (snap.reference, snap.debtor, snap.principal, snap.fees, snap.outstanding, snap.currency,
            snap.lifecycle, snap.lifecycle_display, snap.phase, snap.period_end, snap.needs_info,
            snap.assignee_email, snap.assignee_name, snap.is_test)


def payment_seen(p: PaymentSnap) -> str:
    """The seen-hash value of a payment: `amount|currency|date|recipient|method`."""
    return f"{p.amount}|{p.currency}|{p.date:.0f}|{p.recipient}|{p.method}"


def payment_edit(known: str, p: PaymentSnap) -> tuple[str, str] | Literal[False] | None:
    """Compare a known payment with its fetched form: None when unchanged, the old (amount, currency)
    when it was edited, False when only the stored value is older than this release (no date, recipient
    or method kept) and the amount is the same: stored again, not announced."""
    current = payment_seen(p)
    if known == current:
        return None
    parts = known.split("|")
    amount, currency = [*parts, ""][:2]
    if len(parts) < 5:
        if (amount, currency) == (p.amount, p.currency):
            return False
        return amount, currency
    return amount, currency


@dataclass(frozen=True, slots=True)
class Settings:
    backfill: int = 0
    archive_on_close: bool = True


def diff_case(
    *,
    case_id: str,
    state: CaseState,
    seen: Mapping[str, str],
    fetched: Fetched,
    now: float,
    path: str,
    settings: Settings,
) -> DiffResult:
    new_state = CaseState(
        first_seen=state.first_seen or now,
        case=state.case,
        topic=state.topic,
        baselined=set(state.baselined),
        last_activity=state.last_activity,
        marks=state.marks,
    )
    out: list[Delivery] = []
    seen_set: dict[str, str] = {}
    seen_del: list[str] = []
    since = new_state.first_seen - FIRST_SEEN_SKEW
    case = fetched.case or state.case
    ref = case.reference if case is not None and case.reference else case_id[:8]

    # --- pick backfill candidates among streams baselined now -----------------------------------
    backfill: set[str] = set()
    if settings.backfill > 0:
        dated: list[tuple[float, str]] = []
        if fetched.chats is not None and "chats" not in state.baselined:
            dated += [(c.created, "c" + c.id) for c in fetched.chats]
        if fetched.timeline is not None and "timeline" not in state.baselined:
            dated += [(t.date, "t" + t.fingerprint) for t in fetched.timeline]
        dated.sort()
        backfill = {key for _, key in dated[-settings.backfill:]}

    # --- case-level changes ------------------------------------------------------------------------
    if fetched.case is not None:
        new = fetched.case
        old = state.case
        at = new.date_updated or now
        stamp = f"{at:.0f}"
        if old is not None and old.lifecycle and new.lifecycle and old.lifecycle != new.lifecycle:
            if new.closed:
                text, blocks = build_close_summary(
                    reference=ref, debtor=new.debtor, close_code=new.close_code, outstanding=new.outstanding,
                    currency=new.currency, at=at, archived=settings.archive_on_close,
                )
                out.append(Delivery(id=f"close:{stamp}", case_id=case_id, kind="closed", op="post", text=text,
                                    blocks=blocks, at=at, path=path, case=new,
                                    feed=f"closed ({new.close_code or 'no close code'})"))
                if settings.archive_on_close:
                    out.append(Delivery(id=f"archive:{stamp}", case_id=case_id, kind="archive", op="archive",
                                        at=at, path=path, case=new))
            elif old.closed:
                out.append(Delivery(id=f"unarchive:{stamp}", case_id=case_id, kind="unarchive",
                                    op="unarchive", at=at, path=path, case=new))
                text, blocks = build_reopened_message(reference=ref, lifecycle=new.lifecycle_display, at=at)
                out.append(Delivery(id=f"reopen:{stamp}", case_id=case_id, kind="reopened", op="post",
                                    text=text, blocks=blocks, at=at, path=path, case=new,
                                    feed=f"reopened (now {new.lifecycle_display})"))
            else:
                text, blocks = build_lifecycle_message(
                    reference=ref, old=old.lifecycle_display or old.lifecycle,
                    new=new.lifecycle_display or new.lifecycle, at=at,
                )
                feed = f"lifecycle {old.lifecycle_display} → {new.lifecycle_display}"
                out.append(Delivery(id=f"lc:{old.lifecycle}>{new.lifecycle}@{stamp}", case_id=case_id,
                                    kind="lifecycle", op="post", text=text, blocks=blocks, at=at, path=path,
                                    case=new, feed=feed))
        if old is not None and old.phase != new.phase:
            text, blocks = build_phase_message(reference=ref, old=old.phase, new=new.phase, at=at)
            out.append(Delivery(id=f"ph:{old.phase}>{new.phase}@{stamp}", case_id=case_id, kind="phase",
                                op="post", text=text, blocks=blocks, at=at, path=path, case=new,
                                feed=f"phase {old.phase or 'none'} → {new.phase or 'none'}"))
        new_state.case = new
        topic = case_topic(new)
        if old is None or summary_fields(old) != summary_fields(new):
            pinned = Delivery(id=f"summary:{short_hash(repr(summary_fields(new)))}", case_id=case_id,
                               kind="summary", op="summary", at=at, path=path, case=new)
            # Before an archive (the pinned summary shows the close), after an unarchive.
            at_archive = next((n for n, d in enumerate(out) if d.op == "archive"), len(out))
            out.insert(at_archive, pinned)
        if topic != state.topic:
            new_state.topic = topic
            out.append(Delivery(id=f"topic:{short_hash(topic)}", case_id=case_id, kind="topic", op="topic",
                                text=topic, at=at, path=path, case=new))

    # --- chats ---------------------------------------------------------------------------------------
    if fetched.chats is not None:
        baseline = "chats" not in state.baselined
        # Debitura lists chats oldest first; timestamps can tie (same millisecond), so ties keep the
        # API's order (sorted() is stable) rather than an arbitrary one such as the id.
        for chat in sorted(fetched.chats, key=lambda c: c.created):
            f = chat_field(chat.id)
            known = seen.get(f)
            if known is None:
                post = (not baseline) or chat.created >= since or ("c" + chat.id) in backfill
                seen_set[f] = f"{chat.version}|{1 if post else 0}"
                if post:
                    text, blocks = build_chat_message(
                        case_id=case_id, reference=ref, author=chat.author, role_label=chat.role_label,
                        from_creditor=chat.from_creditor, created=chat.created, message=chat.message,
                        edited_at=chat.updated if chat.updated and chat.updated > chat.created + 1 else None,
                    )
                    out.append(Delivery(id=f"chat:{chat.id}", case_id=case_id, kind="chat", op="post",
                                        text=text, blocks=blocks, version=chat.version, at=chat.created,
                                        path="backfill" if baseline and chat.created < since else path,
                                        case=case, feed=f"{chat.role_label} chat from {chat.author}",
                                        role=chat.role))
                continue
            version, _, posted = known.partition("|")
            if version != chat.version:
                seen_set[f] = f"{chat.version}|{posted or '0'}"
                if posted == "1":
                    text, blocks = build_chat_message(
                        case_id=case_id, reference=ref, author=chat.author, role_label=chat.role_label,
                        from_creditor=chat.from_creditor, created=chat.created, message=chat.message,
                        edited_at=chat.updated or now,
                    )
                    out.append(Delivery(id=f"edit:{chat.id}@{chat.version}", case_id=case_id,
                                        kind="chat_edit", op="update", text=text, blocks=blocks,
                                        version=chat.version, at=chat.updated or now, path=path, case=case,
                                        feed=f"{chat.role_label} chat from {chat.author} edited",
                                        role=chat.role))
        new_state.baselined.add("chats")

    # --- timeline ------------------------------------------------------------------------------------
    if fetched.timeline is not None:
        baseline = "timeline" not in state.baselined
        chat_times = [c.created for c in fetched.chats or ()]
        fresh: list[TimelineSnap] = []
        for item in fetched.timeline:
            f = timeline_field(item.fingerprint)
            if f in seen or f in seen_set:
                continue
            seen_set[f] = ""
            if announces_chat(item, chat_times):
                continue  # the chat itself is in the room already (or was sent from it)
            if (not baseline) or item.date >= since or ("t" + item.fingerprint) in backfill:
                fresh.append(item)
        if fresh:
            entries = [TimelineEntry(date=i.date, title=i.title, description=i.description, actor=i.actor,
                                     type=i.type) for i in fresh]
            messages = build_timeline_messages(reference=ref, entries=entries)
            summaries = timeline_summaries(reference=ref, entries=entries)  # plain: the feed escapes once
            ordered = sorted(fresh, key=lambda i: i.date)
            group_id = short_hash("".join(i.fingerprint for i in ordered), 16)
            for n, ((text, blocks), summary) in enumerate(zip(messages, summaries, strict=True)):
                out.append(Delivery(id=f"tl:{group_id}:{n}", case_id=case_id, kind="timeline", op="post",
                                    text=text, blocks=blocks, at=max(i.date for i in ordered), path=path,
                                    case=case, feed=summary))
        new_state.baselined.add("timeline")

    # --- payments --------------------------------------------------------------------------------------
    if fetched.payments is not None:
        baseline = "payments" not in state.baselined
        current = {payment_field(p.id): p for p in fetched.payments}
        for f, p in sorted(current.items(), key=lambda kv: (kv[1].created, kv[1].date)):
            if f in seen:
                edit = payment_edit(seen[f], p)
                if edit is not None:
                    seen_set[f] = payment_seen(p)
                    if edit:
                        old_amount, old_currency = edit
                        text, blocks = build_payment_edit_message(
                            reference=ref, old_amount=old_amount, old_currency=old_currency, amount=p.amount,
                            currency=p.currency, recipient=p.recipient, method=p.method, date=p.date, at=now)
                        feed = payment_summary(reference=ref, amount=p.amount, currency=p.currency,
                                               deleted=False).replace(" registered", " edited")
                        edit_id = f"payedit:{f[1:]}:{short_hash(seen_set[f], 8)}"
                        out.append(Delivery(id=edit_id, case_id=case_id, kind="payment_edited", op="post",
                                            text=text, blocks=blocks, at=now, path=path, case=case,
                                            feed=feed))
                continue
            seen_set[f] = payment_seen(p)
            if (not baseline) or (p.created or p.date) >= since:
                text, blocks = build_payment_message(reference=ref, amount=p.amount, currency=p.currency,
                                                     recipient=p.recipient, method=p.method, date=p.date,
                                                     deleted=False)
                feed = payment_summary(reference=ref, amount=p.amount, currency=p.currency, deleted=False)
                out.append(Delivery(id=f"pay:{p.id}", case_id=case_id, kind="payment", op="post", text=text,
                                    blocks=blocks, at=p.created or p.date or now, path=path, case=case,
                                    feed=feed))
        if not baseline:
            for f, value in sorted(seen.items()):
                if not f.startswith("p") or f in current:
                    continue
                amount, currency = [*value.split("|"), ""][:2]
                text, blocks = build_payment_message(reference=ref, amount=amount, currency=currency,
                                                     recipient="", method="", date=now, deleted=True)
                feed = payment_summary(reference=ref, amount=amount, currency=currency, deleted=True)
                out.append(Delivery(id=f"paydel:{f[1:]}", case_id=case_id, kind="payment_deleted", op="post",
                                    text=text, blocks=blocks, at=now, path=path, case=case, feed=feed))
                seen_del.append(f)
        new_state.baselined.add("payments")

    if case is not None and case.is_test:
        for d in out:
            if d.blocks:
                d.blocks = mark_test_case(d.blocks)
            if d.feed:
                d.feed = f"Test case · {d.feed}"
    if any(d.op in ("post", "update") for d in out):
        new_state.last_activity = now
    new_state.marks = next_marks(state.marks, before=state.case, after=fetched.case, chats=fetched.chats,
                                 payments=fetched.payments, first_seen=new_state.first_seen, now=now)
    counts = day_counts(out, fetched.payments)
    out.extend(notices(case_id=case_id, old=state.case, new=fetched.case, out=out, chats=fetched.chats,
                       payments=fetched.payments, path=path, now=now, first_fetch=not state.baselined))
    return DiffResult(deliveries=out, state=new_state, seen_set=seen_set, seen_del=seen_del, counts=counts)
