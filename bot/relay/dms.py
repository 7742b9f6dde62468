"""Delivering direct messages (outbox items with op `dm`), once, to people who may get them.

A DM item sits in its person's lane (`dm:<email>`, bot.store.notify). Its delivery:

1. find the person's Slack account (users.lookupByEmail, or users.info for an admin's user id; cached
   NOTIFY_PERSON_TTL): no account, a guest, a Slack Connect user, a bot or a deactivated account gets
   nothing, and the item is recorded as skipped (never retried);
2. a DM Slack refused before (`notify_refused`), the person's preferences (the kind turned off), a muted
   case, "channel only" for creditor chats while they are in the case channel, or a payment they
   recorded themselves from Slack: recorded as skipped;
3. inside the person's quiet hours (their Slack time zone) the lane waits until the quiet hours end
   (`Held`): the item stays at the head, nothing is lost, and a restart changes nothing;
4. otherwise conversations.open and chat.postMessage through the relay's exactly-once path
   (`Deliverer._post_once`: the `pending` mark, then a repair from the DM's history by the item id in
   the message metadata); a refusal (`cannot_dm_bot`, `user_disabled`, `user_not_found`,
   `account_inactive`) is recorded once for the item and for the person (NOTIFY_REFUSED_TTL).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.relay.model import Delivery
from bot.slack.pacing import DM_REFUSED_ERRORS, SlackIO, SlackRefused
from bot.store.attention import DmKind, Prefs, ReminderKind
from bot.store.notify import NotifyStore, Person
from bot.store.reads import hget

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SKIPPED = "skipped"
"""Record value prefix of a DM that will never be sent (`skipped|<why>|<when>`): done, not pending."""


class Held(Exception):
    """The DM waits (quiet hours): come back to the lane at `until` (unix seconds)."""

    def __init__(self, until: float, reason: str) -> None:
        self.until = until
        self.reason = reason
        super().__init__(f"held until {until:.0f} ({reason})")


def wanted(prefs: Prefs, pref: str) -> bool:
    """Whether the person's preferences let a DM of kind `pref` (Delivery.pref) through."""
    kind, _, name = pref.partition(":")
    if kind == "dm":
        return name not in set(DmKind) or prefs.wants_dm(DmKind(name))
    if kind == "reminder":
        return name not in set(ReminderKind) or prefs.wants_reminder(ReminderKind(name))
    if kind == "digest":
        return prefs.digest
    return True


def zone_of(person: Person) -> tzinfo:
    if person.tz:
        try:
            return ZoneInfo(person.tz)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return timezone(timedelta(seconds=person.tz_offset))


def quiet_until(now: float, zone: tzinfo, quiet: tuple[int, int] | None, *,
                weekends: bool = True) -> float | None:
    """When the quiet hours around `now` end (unix s), or None when `now` is not inside them. With
    `weekends` False, a Saturday or Sunday counts as quiet too (until Monday's quiet hours end)."""
    if not weekends:
        local = datetime.fromtimestamp(now, zone)
        if local.weekday() >= 5:
            end = quiet[1] if quiet is not None else 0
            monday = local.date() + timedelta(days=7 - local.weekday())
            back = datetime(monday.year, monday.month, monday.day, end // 60, end % 60, tzinfo=zone)
            return back.timestamp()
    if quiet is None or quiet[0] == quiet[1]:
        return None
    start, end = quiet
    local = datetime.fromtimestamp(now, zone)
    minute = local.hour * 60 + local.minute
    inside = (minute >= start or minute < end) if start > end else (start <= minute < end)
    if not inside:
        return None
    ends = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if ends <= local:
        ends = ends + timedelta(days=1)
        # a DST change between now and then: rebuild the wall time in the zone
        ends = datetime(ends.year, ends.month, ends.day, end // 60, end % 60, tzinfo=zone)
    return ends.timestamp()


def refusal_of(user: dict[str, Any], team_id: str, enterprise_id: str | None) -> str:
    """Why no DM may go to this Slack user ("" = one may): the identity rules of bot.services.identity
    (deactivated, bots, other organisations, guests), read from the users.info object."""
    if user.get("deleted"):
        return "deactivated"
    if user.get("is_bot") or user.get("is_app_user"):
        return "bot"
    user_enterprise = (user.get("enterprise_user") or {}).get("enterprise_id")
    same_org = str(user.get("team_id") or "") == team_id or (
        enterprise_id is not None and user_enterprise == enterprise_id)
    if user.get("is_stranger") or not same_org:
        return "external"
    if user.get("is_restricted") or user.get("is_ultra_restricted"):
        return "guest"
    return ""


class People:
    """Debitura emails (and admins' user ids) to Slack DM targets, cached in Redis."""

    def __init__(self, runtime: Runtime, slack: SlackIO, store: NotifyStore) -> None:
        self.runtime = runtime
        self.slack = slack
        self.store = store

    async def _bot_team(self) -> tuple[str, str | None]:
        cached = await self.runtime.stores.identity.bot_team()
        if cached:
            try:
                data = json.loads(cached)
                return str(data.get("team_id") or ""), data.get("enterprise_id") or None
            except ValueError:
                pass
        resp = await self.slack.call("auth.test", None, lambda: self.runtime.slack.auth_test())
        team, enterprise = str(resp.get("team_id") or ""), resp.get("enterprise_id") or None
        await self.runtime.stores.identity.save_bot_team(
            json.dumps({"team_id": team, "enterprise_id": enterprise}))
        return team, enterprise

    async def person(self, to: str, now: float) -> Person:
        """`to`: a Debitura email, or a Slack user id (U...)."""
        key = to if "@" in to else "id:" + to
        cached = await self.store.person(key)
        if cached is not None:
            return cached
        user = await (self.slack.user_by_email(to) if "@" in to else self.slack.user_info(to))
        if user is None:
            person = Person(email=key, refusal="no_slack_account", fetched=now)
        else:
            team, enterprise = await self._bot_team()
            person = Person(email=key, user_id=str(user.get("id") or ""), tz=str(user.get("tz") or ""),
                            tz_offset=int(user.get("tz_offset") or 0),
                            refusal=refusal_of(user, team, enterprise), fetched=now)
        await self.store.save_person(person)
        if "@" in to:  # App Home's queues read who an assignee is from here too
            await self.runtime.stores.attention.save_account(to, person.user_id if not person.refusal else "",
                                                             now)
        return person


class DirectMessages:
    """The `dm` branch of the relay's delivery (bot.relay.delivery.Deliverer calls `deliver`)."""

    def __init__(self, runtime: Runtime, slack: SlackIO, store: NotifyStore, *,
                 clock: Callable[[], float]) -> None:
        self.runtime = runtime
        self.slack = slack
        self.store = store
        self.clock = clock
        self.people = People(runtime, slack, store)
        self.defaults = Prefs.defaults(runtime.settings)
        self.skipped = 0
        self.refused = 0

    def _skip(self, item: Delivery, why: str) -> tuple[str, str]:
        self.skipped += 1
        log.info("direct message not sent", extra={"item": item.id, "case_id": item.case_id, "why": why})
        return item.id, f"{SKIPPED}|{why}|{self.clock():.0f}"

    async def _self_recorded(self, item: Delivery, user_id: str) -> bool:
        """A payment the person recorded from Slack themselves (the audit stream says so)."""
        parts = item.id.split(":")  # dm:pay:<case id>:<payment id>:<person>
        payment_id = parts[3] if len(parts) >= 5 else ""
        if not payment_id:
            return False
        for entry in await self.runtime.stores.audit.recent(500):
            if (entry.get("case_id") == item.case_id and entry.get("user_id") == user_id
                    and payment_id in json.dumps(entry)):
                return True
        return False

    async def _in_case_channel(self, item: Delivery) -> bool:
        """The assignee was invited into the case's channel (bot.slack.channels keeps who)."""
        assignee = await self.runtime.stores.channels.field(item.case_id, "assignee")
        archived = await self.runtime.stores.channels.field(item.case_id, "archived")
        return bool(assignee) and (assignee or "").strip().lower() == item.to and archived != "1"

    async def deliver(self, item: Delivery,
                      post_once: Callable[[Delivery, Callable[[], Awaitable[str]], bool],
                                          Awaitable[tuple[str, str] | None]]) -> tuple[str, str] | None:
        now = self.clock()
        done = await hget(self.store.redis, self.store.keys.relayed(item.case_id), item.id)
        if done and not done.startswith("pending|"):
            return None
        person = await self.people.person(item.to, now)
        if person.refusal:
            return self._skip(item, person.refusal)
        refused = await self.store.refused(person.email)
        if refused:
            return self._skip(item, f"refused:{refused}")
        attention = self.runtime.stores.attention
        prefs = await attention.prefs(person.user_id, self.defaults)
        if not wanted(prefs, item.pref):
            return self._skip(item, f"off:{item.pref}")
        real_case = bool(item.case_id) and not item.case_id.startswith("_")
        if real_case and item.case_id in await attention.mutes(person.user_id):
            return self._skip(item, "muted")
        if item.pref == "dm:creditor_chat" and prefs.channel_only and await self._in_case_channel(item):
            return self._skip(item, "channel_only")
        if item.pref == "dm:payment" and await self._self_recorded(item, person.user_id):
            return self._skip(item, "self")
        if item.hold:
            timed = item.pref.startswith("reminder:") or item.pref == "digest"
            until = quiet_until(now, zone_of(person), prefs.quiet_span(),
                                weekends=prefs.weekends or not timed)
            if until is not None:
                raise Held(until, "quiet hours")

        async def channel_of() -> str:
            if person.channel:
                return person.channel
            channel = await self.slack.open_dm(person.user_id)
            await self.store.save_person(person.model_copy(update={"channel": channel}))
            return channel

        try:
            return await post_once(item, channel_of, True)
        except SlackRefused as exc:
            if exc.error not in DM_REFUSED_ERRORS:
                raise
            self.refused += 1
            log.warning("Slack refused a direct message; recorded, not retried",
                        extra={"item": item.id, "error": exc.error})
            await self.store.mark_refused(person.email, exc.error)
            await self.store.forget_person_only(person.email)
            return item.id, f"{SKIPPED}|refused:{exc.error}|{now:.0f}"
