"""What needs a person: each case's queue sections, grouped by owner. Pure (no I/O, no clock).

A case belongs to the Slack user whose account matches its assignee's email; a case with no assignee,
or whose assignee email has no Slack account (or one not known yet), belongs to the admins (`ADMINS`).

Sections and their order (issue 13), each sorted most urgent first:

* `waiting_activation`: lifecycle PendingVerification, longest waiting first (since it entered it);
* `creditor_waiting`: the newest chat is the creditor's and no partner chat followed, longest first;
* `needs_info`: validation.needsInfo, longest in its lifecycle first;
* `exclusive_ending`: exclusive period ends within `exclusive_days` (not yet ended), soonest first;
* `recently_paid`, `recently_closed`: in the last `recent_days`, newest first (context, not alarms).

A case may be in several sections (waiting for a reply and its exclusive period ending); a closed case
is only ever in the two "recently" sections.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.store.snapshots import CaseSnap, TrackedCase

DAY = 86400.0
ADMINS = "@admins"
"""The owner of unassigned cases and of cases whose assignee has no (known) Slack account."""
PENDING = "PendingVerification"


class Section(StrEnum):
    waiting_activation = "waiting_activation"
    creditor_waiting = "creditor_waiting"
    needs_info = "needs_info"
    exclusive_ending = "exclusive_ending"
    recently_paid = "recently_paid"
    recently_closed = "recently_closed"

    @property
    def heading(self) -> str:
        return SECTION_TITLES[self]

    @property
    def alarm(self) -> bool:
        """True for what needs doing; False for context (recently paid or closed)."""
        return self not in (Section.recently_paid, Section.recently_closed)


SECTION_TITLES = {
    Section.waiting_activation: "Waiting for activation",
    Section.creditor_waiting: "Creditor waiting for a reply",
    Section.needs_info: "Needs info",
    Section.exclusive_ending: "Exclusive period ending",
    Section.recently_paid: "Recently paid",
    Section.recently_closed: "Recently closed",
}
SECTIONS: tuple[Section, ...] = tuple(Section)


@dataclass(frozen=True, slots=True)
class QueueItem:
    case_id: str
    reference: str
    debtor: str
    amount: str
    """Outstanding amount as text ("" unknown)."""
    currency: str
    section: Section
    since: float
    """When the reason started (entered the lifecycle, the creditor wrote, paid, closed); 0 unknown."""
    due: float = 0.0
    """The date it is due by (exclusive period end), 0 when none."""
    lifecycle: str = ""
    assignee_email: str = ""

    def age(self, now: float) -> float:
        """Seconds since `since` (0 when unknown or in the future)."""
        return max(0.0, now - self.since) if self.since else 0.0

    @property
    def pending(self) -> bool:
        return self.lifecycle == PENDING


@dataclass
class Queue:
    """One owner's queue: items per section, in order (every section present, maybe empty)."""

    owner: str
    sections: dict[Section, list[QueueItem]] = field(default_factory=lambda: {s: [] for s in SECTIONS})

    def counts(self) -> dict[Section, int]:
        return {s: len(items) for s, items in self.sections.items()}

    @property
    def total(self) -> int:
        return sum(len(items) for items in self.sections.values())

    @property
    def alarms(self) -> int:
        return sum(len(items) for s, items in self.sections.items() if s.alarm)

    def case_ids(self) -> set[str]:
        return {item.case_id for items in self.sections.values() for item in items}


def _item(case: CaseSnap, section: Section, since: float, due: float = 0.0) -> QueueItem:
    return QueueItem(case_id=case.id, reference=case.reference, debtor=case.debtor, amount=case.outstanding,
                     currency=case.currency, section=section, since=since, due=due, lifecycle=case.lifecycle,
                     assignee_email=case.assignee_email.strip().lower())


def sections_of(tracked: TrackedCase, *, now: float, exclusive_days: int = 14,
                recent_days: int = 7) -> list[QueueItem]:
    """The queue items of one case (none when nothing about it needs anyone)."""
    case, marks = tracked.case, tracked.marks
    recent = now - recent_days * DAY
    out: list[QueueItem] = []
    if not case.closed:
        if case.lifecycle == PENDING:
            out.append(_item(case, Section.waiting_activation, tracked.lifecycle_since))
        if marks.waiting_since:
            out.append(_item(case, Section.creditor_waiting, marks.waiting_since))
        if case.needs_info:
            out.append(_item(case, Section.needs_info, tracked.lifecycle_since))
        end = case.period_end
        if end and now <= end <= now + exclusive_days * DAY:
            out.append(_item(case, Section.exclusive_ending, end, due=end))
    if marks.paid_at and recent <= marks.paid_at:
        out.append(_item(case, Section.recently_paid, marks.paid_at))
    if case.closed and marks.closed_at and recent <= marks.closed_at:
        out.append(_item(case, Section.recently_closed, marks.closed_at))
    return out


def owner_of(case: CaseSnap, users: Mapping[str, str] | None) -> str:
    """The Slack user id owning the case (`users`: lower-case email -> user id, "" for no account), or
    ADMINS. Without `users`, the owner is the assignee email itself (ADMINS when unassigned)."""
    email = case.assignee_email.strip().lower()
    if not email:
        return ADMINS
    if users is None:
        return email
    return users.get(email) or ADMINS


def _sort(section: Section, items: list[QueueItem]) -> None:
    if section is Section.exclusive_ending:
        items.sort(key=lambda i: (i.due, i.reference))
    elif section.alarm:
        items.sort(key=lambda i: (i.since or float("inf"), i.reference))  # longest waiting first
    else:
        items.sort(key=lambda i: (-i.since, i.reference))  # newest first


def build_queue(snaps: Iterable[TrackedCase], *, now: float, exclusive_days: int = 14, recent_days: int = 7,
                users: Mapping[str, str] | None = None) -> dict[str, Queue]:
    """Every owner's queue (only owners with at least one item), each section sorted."""
    queues: dict[str, Queue] = {}
    for tracked in snaps:
        items = sections_of(tracked, now=now, exclusive_days=exclusive_days, recent_days=recent_days)
        if not items:
            continue
        owner = owner_of(tracked.case, users)
        queue = queues.get(owner)
        if queue is None:
            queue = queues[owner] = Queue(owner=owner)
        for item in items:
            queue.sections[item.section].append(item)
    for queue in queues.values():
        for section, items in queue.sections.items():
            _sort(section, items)
    return queues


def without(queue: Queue, muted: set[str]) -> Queue:
    """The queue without the muted cases."""
    if not muted:
        return queue
    kept = {s: [i for i in items if i.case_id not in muted] for s, items in queue.sections.items()}
    return Queue(owner=queue.owner, sections=kept)
