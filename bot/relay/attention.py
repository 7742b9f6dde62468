"""The relay's reminder and digest pass: from Redis only (zero Debitura requests), under one lease.

Every CASEROOM_ATTENTION_INTERVAL seconds one relay process (lease `attention`) reads every tracked case
(the assignee index of bot.store.attention, in chunks of TRACKED_CHUNK case states per round trip, so
the event loop never stalls) and works out each case's queue sections (bot.attention.queue):

* **Reminders.** Exclusive period ending in CASEROOM_EXCLUSIVE_REMINDERS days (14, 7, 1), a creditor
  chat unanswered after CASEROOM_REPLY_SLA hours, a case waiting for activation after
  CASEROOM_ACTIVATION_REMINDER hours. Each fires once per threshold per case: its marker
  (`<kind>:<threshold>:<anchor>`, the anchor being what started it: the end date, the creditor's chat
  time, the lifecycle change) is set in the same Lua step that queues the DM (bot.store.notify), so a
  crash, a restart or a second replica cannot fire it twice; when the condition clears the kind's
  markers go, and a new occurrence (a new creditor chat) has a new anchor. When several thresholds are
  crossed at once (first seen 5 days before the end), one reminder goes (the nearest) and the others
  are marked.
* **Digests.** At the person's digest time in their Slack time zone (skipped on weekends unless they
  asked), once per local day (a SET NX marker queued with the DM): their queue's counts and first items.
  Admins get the team digest (yesterday's payments per currency, closes per close code and new cases,
  counted by the relay's fetch commit, and today's overdue replies per assignee) in CASEROOM_DIGEST_CHANNEL
  (refused when shared with another organisation, as every relay target) or by DM.

Reminders go to the assignee; cases with no assignee, or whose assignee has no Slack account, go to the
admins (CASEROOM_ADMIN_USERS ids). What is queued is delivered by the relay's delivery workers (quiet
hours, preferences, mutes and the exactly-once record: bot.relay.dms).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from blocks.notify import DigestItem, build_digest, build_reminder, build_team_digest
from bot.attention.queue import DAY, QueueItem, Section, sections_of
from bot.config import ADMIN_EVERYONE
from bot.relay.dms import People, zone_of
from bot.relay.model import Delivery
from bot.relay.notices import case_line, person_key, utc_day
from bot.slack.pacing import RetryLater, SlackRefused
from bot.store.attention import Prefs
from bot.store.notify import NotifyStore, Person, dm_lane
from bot.store.snapshots import TrackedCase

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

HOUR = 3600.0
DIGEST_WINDOW = 4 * HOUR
"""A digest goes out between the digest time and this long after it (a relay down all morning sends
none that day rather than one in the evening)."""
RESOLVE_PER_PASS = 20
"""Slack accounts looked up per pass for digests (users.lookupByEmail is Tier 3; the rest next pass)."""
DIGEST_CASE = "_digest"
"""The `case_id` of digest deliveries (their exactly-once records live under it)."""
TEAM = "team"
PASS_CHUNK = 200
MAX_FIRED_PER_PASS = 300
"""Reminders queued by one pass at most: the rest are still due at the next pass (a first start with
thousands due spreads them over a few passes, each well under a second of CPU)."""
"""Cases worked between two yields to the event loop."""


@dataclass
class PassStats:
    cases: int = 0
    owners: int = 0
    fired: int = 0
    marked: int = 0
    cleared: int = 0
    digests: int = 0
    cpu: float = 0.0
    """Seconds of CPU of the event loop's thread during the pass (an upper bound of the pass's share)."""
    wall: float = 0.0
    overdue: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Due:
    """A reminder whose threshold is crossed."""

    field: str
    kind: str
    threshold: int
    since: float = 0.0
    end: float = 0.0


def due_reminders(items: Iterable[QueueItem], *, now: float, sla_hours: int, activation_hours: int,
                  exclusive_days: Sequence[int]) -> tuple[list[Due], set[str]]:
    """The reminders whose threshold a case's queue `items` (bot.attention.queue.sections_of, with a
    window at least the largest reminder day) have crossed, and the anchors (`<kind>|<anchor>`) that
    still hold: a fired marker whose kind and anchor are not among them is cleared. Pure."""
    due: list[Due] = []
    holding: set[str] = set()
    for item in items:
        if item.section is Section.waiting_activation and item.since:
            holding.add(f"activation|{item.since:.0f}")
            if now - item.since >= activation_hours * HOUR:
                due.append(Due(f"activation:{activation_hours}:{item.since:.0f}", "activation",
                               activation_hours, since=item.since))
        elif item.section is Section.creditor_waiting and item.since:
            holding.add(f"reply|{item.since:.0f}")
            if now - item.since >= sla_hours * HOUR:
                due.append(Due(f"reply:{sla_hours}:{item.since:.0f}", "reply", sla_hours, since=item.since))
        elif item.section is Section.exclusive_ending and item.due:
            holding.add(f"exclusive|{item.due:.0f}")
            left = item.due - now
            for days in sorted(exclusive_days):
                if left <= days * DAY:
                    due.append(Due(f"exclusive:{days}:{item.due:.0f}", "exclusive", days, end=item.due))
    return due, holding


def still_holds(fired_field: str, holding: set[str]) -> bool:
    kind, _, rest = fired_field.partition(":")
    _, _, anchor = rest.partition(":")
    return f"{kind}|{anchor}" in holding


class AttentionPass:
    def __init__(self, runtime: Runtime, notify: NotifyStore, people: People, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.notify = notify
        self.people = people
        self.clock = clock
        self.last = PassStats()

    # --- helpers -------------------------------------------------------------------------------------
    def _admins(self) -> list[str]:
        return [u for u in self.runtime.settings.caseroom_admin_users if u != ADMIN_EVERYONE]

    async def _accounts(self, emails: Iterable[str]) -> dict[str, str | None]:
        """email -> Slack user id, "" (no Slack account: the admins' queue) or None (not checked yet)."""
        found = await self.runtime.stores.attention.accounts(emails)
        return {email: (value[0] if value is not None else None) for email, value in found.items()}

    def _reminder(self, tracked: TrackedCase, due: Due, to: str, now: float) -> Delivery:
        case = tracked.case
        text, blocks = build_reminder(due.kind, case_line(case), threshold=due.threshold, since=due.since,
                                      now=now, end=due.end)
        return Delivery(id=f"rm:{case.id}:{due.field}:{person_key(to)}", case_id=case.id,
                        kind=f"remind_{due.kind}", op="dm", text=text, blocks=blocks, at=now, path="reminder",
                        lane=dm_lane(to), to=to, pref=f"reminder:{due.kind}")

    # --- the pass --------------------------------------------------------------------------------------
    async def run(self) -> PassStats:
        started_cpu, started = time.thread_time(), time.perf_counter()
        now = self.clock()
        settings = self.runtime.settings
        stats = PassStats()
        tracked_by_owner = await self.runtime.stores.attention.tracked_all()
        accounts = await self._accounts(e for e in tracked_by_owner if e)
        fired_cases = set(await self.notify.reminded())
        admins = self._admins()
        listed = settings.caseroom_exclusive_days * DAY
        window = max([settings.caseroom_exclusive_days, *settings.caseroom_exclusive_reminders])
        owner_items: dict[str, list[tuple[Section, TrackedCase, float]]] = {}
        for email, cases in tracked_by_owner.items():
            stats.owners += 1
            account = accounts.get(email)
            recipients = admins if (not email or account == "") else [email]
            for start in range(0, len(cases), PASS_CHUNK):
                chunk = cases[start:start + PASS_CHUNK]
                ids = [t.case.id for t in chunk if t.case.id in fired_cases]
                fired = dict(zip(ids, await self.notify.fired(ids), strict=True))
                clear: dict[str, list[str]] = {}
                for tracked in chunk:
                    stats.cases += 1
                    items = sections_of(tracked, now=now, exclusive_days=window,
                                        recent_days=settings.caseroom_recent_days)
                    due, holding = due_reminders(
                        items, now=now, sla_hours=settings.caseroom_reply_sla,
                        activation_hours=settings.caseroom_activation_reminder,
                        exclusive_days=settings.caseroom_exclusive_reminders)
                    done = fired.get(tracked.case.id, {})
                    gone = [f for f in done if not still_holds(f, holding)]
                    if gone:
                        clear[tracked.case.id] = gone
                    await self._fire(tracked, [d for d in due if d.field not in done], recipients, now, stats)
                    for item in items:
                        if item.section is Section.exclusive_ending and item.due > now + listed:
                            continue  # kept for a reminder day beyond the queue's own window
                        at = item.since or item.due
                        owner_items.setdefault(email, []).append((item.section, tracked, at))
                        if (item.section is Section.creditor_waiting and item.since
                                and now - item.since >= settings.caseroom_reply_sla * HOUR):
                            who = tracked.case.assignee_name or email or "unassigned"
                            stats.overdue[who] = stats.overdue.get(who, 0) + 1
                if clear:
                    stats.cleared += sum(len(v) for v in clear.values())
                    await self.notify.clear_reminders(clear)
                await asyncio.sleep(0)  # let the loop breathe between chunks
        await self._digests(owner_items, accounts, now, stats)
        await self._team_digest(now, stats)
        stats.cpu = time.thread_time() - started_cpu
        stats.wall = time.perf_counter() - started
        self.last = stats
        return stats

    async def _fire(self, tracked: TrackedCase, due: list[Due], recipients: Sequence[str], now: float,
                    stats: PassStats) -> None:
        if not due or not recipients or stats.fired + stats.marked >= MAX_FIRED_PER_PASS:
            return
        # Several thresholds of one kind crossed at once: the nearest speaks, the others are only marked.
        speaking: dict[str, Due] = {}
        for d in due:
            if d.kind not in speaking or d.threshold < speaking[d.kind].threshold:
                speaking[d.kind] = d
        for d in due:
            speaks = speaking[d.kind] is d
            items = [self._reminder(tracked, d, to, now) for to in recipients] if speaks else []
            if await self.notify.fire_once(tracked.case.id, d.field, now,
                                           [(i.model_dump_json(), i.lane) for i in items], now):
                if items:
                    stats.fired += 1
                else:
                    stats.marked += 1

    async def _person(self, to: str, cached: dict[str, Person], budget: list[int],
                      now: float) -> Person | None:
        if to in cached:
            return cached[to]
        if budget[0] <= 0:
            return None
        budget[0] -= 1
        try:
            person = await self.people.person(to, now)
        except (RetryLater, SlackRefused) as exc:
            log.info("digest: Slack account lookup deferred", extra={"error": str(exc)})
            budget[0] = 0
            return None
        cached[to] = person
        return person

    def _digest_day(self, person: Person, prefs: Prefs, now: float) -> str | None:
        """The person's local date when their digest is due now, else None."""
        local = datetime.fromtimestamp(now, zone_of(person))
        minute = local.hour * 60 + local.minute
        start = prefs.digest_minute()
        if not (start <= minute < start + DIGEST_WINDOW / 60):
            return None
        if local.weekday() >= 5 and not prefs.weekends:
            return None
        return local.strftime("%Y-%m-%d")

    async def _digests(self, owner_items: dict[str, list[tuple[Section, TrackedCase, float]]],
                       accounts: dict[str, str | None], now: float, stats: PassStats) -> None:
        settings = self.runtime.settings
        defaults = Prefs.defaults(settings)
        all_prefs = await self.runtime.stores.attention.all_prefs(defaults)
        if not defaults.digest and not any(p.digest for p in all_prefs.values()):
            return  # nobody wants one: no Slack account looked up for it
        emails = [e for e in owner_items if e and accounts.get(e) != ""]
        cached = await self.notify.people(emails)
        budget = [RESOLVE_PER_PASS]
        for email in emails:
            person = await self._person(email, cached, budget, now)
            if person is None or person.refusal or not person.user_id:
                continue
            prefs = all_prefs.get(person.user_id, defaults)
            if not prefs.digest:
                continue
            day = self._digest_day(person, prefs, now)
            if day is None or await self.notify.digest_sent(person.user_id, day):
                continue
            muted = await self.runtime.stores.attention.mutes(person.user_id)
            items = [(s, t, at) for s, t, at in owner_items[email] if t.case.id not in muted]
            if not items:
                continue
            counts: dict[Section, int] = {}
            for section, _, _ in items:
                counts[section] = counts.get(section, 0) + 1
            order = list(Section)
            top = sorted((i for i in items if i[0].alarm), key=lambda i: (order.index(i[0]), i[2]))
            text, blocks = build_digest(
                counts=[(s.heading, counts.get(s, 0)) for s in Section],
                top=[DigestItem(label=s.heading, case=case_line(t.case)) for s, t, _ in top], day=day)
            item = Delivery(id=f"digest:{day}:{person.user_id}", case_id=DIGEST_CASE, kind="digest", op="dm",
                            text=text, blocks=blocks, at=now, path="digest", lane=dm_lane(email),
                            to=email, pref="digest", hold=True)
            queued = await self.notify.digest_once(person.user_id, day, item.model_dump_json(), item.lane,
                                                   now, now)
            if queued:
                stats.digests += 1

    async def _team_digest(self, now: float, stats: PassStats) -> None:
        settings = self.runtime.settings
        channel = settings.caseroom_digest_channel
        defaults = Prefs.defaults(settings)
        targets: list[tuple[str, Person | None]] = [(channel, None)] if channel else []
        if not channel:
            cached = await self.notify.people(["id:" + a for a in self._admins()])
            budget = [RESOLVE_PER_PASS]
            for admin in self._admins():
                person = cached.get("id:" + admin)
                if person is None:
                    person = await self._person(admin, {}, budget, now)
                if person is not None and not person.refusal:
                    targets.append((admin, person))
        for to, person in targets:
            if person is None:  # the channel: the digest time in UTC
                local = datetime.fromtimestamp(now, zone_of(Person(email=TEAM)))
                minute = local.hour * 60 + local.minute
                start = defaults.digest_minute()
                if not (start <= minute < start + DIGEST_WINDOW / 60) or (
                        local.weekday() >= 5 and not settings.caseroom_digest_weekends):
                    continue
                day: str | None = local.strftime("%Y-%m-%d")
            else:
                day = self._digest_day(person, defaults, now)
            if day is None:
                continue
            who = f"{TEAM}:{to}"
            if await self.notify.digest_sent(who, day):
                continue
            yesterday = utc_day((datetime.fromisoformat(day) - timedelta(days=1)).timestamp() + 12 * HOUR)
            counts = await self.notify.day_counts(yesterday)
            payments = {k[4:]: v for k, v in counts.items() if k.startswith("pay:")}
            closes = {k[6:]: int(v) for k, v in counts.items() if k.startswith("close:")}
            text, blocks = build_team_digest(day=yesterday, payments=payments, closes=closes,
                                             new_cases=int(counts.get("new", 0)), overdue=stats.overdue)
            if person is None:
                item = Delivery(id=f"digest:{TEAM}:{day}", case_id=DIGEST_CASE, kind="team_digest",
                                op="digest", text=text, blocks=blocks, at=now, path="digest", lane="digest",
                                to=to)
            else:
                item = Delivery(id=f"digest:{TEAM}:{day}:{to}", case_id=DIGEST_CASE, kind="team_digest",
                                op="dm", text=text, blocks=blocks, at=now, path="digest", lane=dm_lane(to),
                                to=to, pref="digest", hold=True)
            if await self.notify.digest_once(who, day, item.model_dump_json(), item.lane, now, now):
                stats.digests += 1
