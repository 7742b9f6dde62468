"""App Home (issue 13): a person's queue, built from Redis only (no Debitura request), and their settings.

`home_view(runtime, user_id, page=...)`:
1. who: the Slack profile (`identity.check_user`, cached; guests, Slack Connect users and deactivated
   accounts get a Home saying why), and the email's Debitura account, from the cached team list or
   because cases are assigned to it (no `GET /users`);
2. what: the person's cases from the attention index (`runtime.stores.attention.tracked_for(email)`),
   plus, for admins, the unassigned cases and those whose assignee email has no Slack account;
3. the queue (`bot.attention.queue.build_queue`) without the muted cases, and for admins the team
   view (counts per assignee and section), read from Redis: the relay's attention pass writes it every
   pass (kept three intervals); only when it is missing (no relay running) a Home computes it from every
   case state and keeps it `ATTENTION_TEAM_TTL`;
4. the view (`blocks.home.build_home`), one page within Block Kit's 100 blocks.
Redis unreachable: a Home that says Caseroom is degraded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from blocks.card import case_title
from blocks.home import (
    DEGRADED,
    HomeData,
    HomeItem,
    HomeSection,
    PrefsForm,
    TeamRow,
    build_degraded_home,
    build_home,
    build_home_message,
    build_no_account_home,
    build_settings_view,
)
from blocks.text import esc
from blocks.views import build_notice
from bot.attention.queue import ADMINS, SECTIONS, Queue, QueueItem, Section, build_queue
from bot.services import identity
from bot.services.errors import BadInput, Refused
from bot.slack.home import publish_home
from bot.store.attention import UNASSIGNED, DmKind, Prefs, ReminderKind
from bot.store.snapshots import TrackedCase

if TYPE_CHECKING:
    from blocks.views import Message
    from bot.debitura.models import Case
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SHORT_TITLES = {
    Section.waiting_activation: "activation",
    Section.creditor_waiting: "replies",
    Section.needs_info: "needs info",
    Section.exclusive_ending: "exclusive ending",
    Section.recently_paid: "paid",
    Section.recently_closed: "closed",
}


def _item(item: QueueItem) -> HomeItem:
    return HomeItem(case_id=item.case_id, reference=item.reference, debtor=item.debtor, amount=item.amount,
                    currency=item.currency, since=item.since, due=item.due, pending=item.pending)


def _queue(runtime: Runtime, tracked: list[TrackedCase], now: float,
           users: dict[str, str] | None = None) -> dict[str, Queue]:
    s = runtime.settings
    return build_queue(tracked, now=now, exclusive_days=s.caseroom_exclusive_days,
                       recent_days=s.caseroom_recent_days, users=users)


async def _unmatched_emails(runtime: Runtime, emails: Iterable[str]) -> set[str]:
    """The assignee emails Slack said have no account."""
    known = await runtime.stores.attention.accounts(emails)
    return {email for email, found in known.items() if found is not None and not found[0]}


async def _team_view(runtime: Runtime, now: float) -> tuple[list[TeamRow], set[str]]:
    """Counts per assignee and section (cached ATTENTION_TEAM_TTL), and the unmatched emails."""
    store = runtime.stores.attention
    cached = await store.team_view()
    raw: dict[str, Any] | None = None
    if cached:
        try:
            raw = json.loads(cached)
        except ValueError:
            raw = None
    if raw is None or not isinstance(raw.get("counts"), dict):
        tracked = [t for cases in (await store.tracked_all()).values() for t in cases]
        queues = _queue(runtime, tracked, now)
        by_owner = {("" if owner == ADMINS else owner): [q.counts()[s] for s in SECTIONS]
                    for owner, q in queues.items()}
        raw = {"counts": by_owner, "at": now}
        await store.save_team_view(json.dumps(raw))
    counts_by_email: dict[str, list[int]] = raw["counts"]
    accounts = await store.accounts(counts_by_email)
    unmatched = {e for e, found in accounts.items() if found is not None and not found[0]}
    rows: list[TeamRow] = []
    for email in sorted(counts_by_email, key=lambda e: (e == "", e)):
        found = accounts.get(email)
        if email == UNASSIGNED:
            who = "*Unassigned*"
        elif found is not None and found[0]:
            who = f"<@{found[0]}>"
        elif found is not None:
            who = f"{esc(email)} _(no Slack account: in the admins' queue)_"
        else:
            who = esc(email)
        rows.append(TeamRow(who=who, counts=tuple(int(c) for c in counts_by_email[email])))
    return rows, unmatched


async def _has_account(runtime: Runtime, email: str, mine: list[TrackedCase]) -> bool | None:
    """Cases are assigned to the email, or the cached team list (GET /users, kept by the writes'
    identity checks, or loaded for App Home by `show_home`) has it. None: no team list cached, so not
    known (not claimed missing; `show_home` loads the list in the background and publishes again)."""
    if mine:
        return True
    cached, refreshed = await runtime.stores.identity.team_member(email.strip().lower())
    if cached:
        return True
    return False if refreshed else None


TEAM_LOAD_WAIT = 30
"""Seconds a Home waits for another process's team list load before giving up (the next opening
tries again)."""
_team_loads: set[asyncio.Task[None]] = set()
"""Background loads of the team list (kept referenced until done)."""


async def home_data(runtime: Runtime, user_id: str, email: str, *, admin: bool, page: int,
                    now: float, unknown: list[bool] | None = None) -> HomeData | None:
    """The Home of a person with this email (None: no Debitura account and no case). `unknown` (when
    given) gets True when whether the person has an account is not known yet (no team list cached)."""
    store = runtime.stores.attention
    email = email.strip().lower()
    mine = await store.tracked_for(email)
    has = await _has_account(runtime, email, mine)
    if has is False and not admin:
        return None
    if has is None and not admin and unknown is not None:
        unknown.append(True)
    await store.save_account(email, user_id, now)
    team: list[TeamRow] | None = None
    tracked = list(mine)
    if admin:
        team, unmatched = await _team_view(runtime, now)
        tracked += await store.tracked_for(UNASSIGNED)
        for other in sorted(unmatched - {email}):
            tracked += await store.tracked_for(other)
    queue = _queue(runtime, tracked, now, {email: user_id})
    muted_ids = await store.mutes(user_id)
    sections: list[HomeSection] = []
    muted: dict[str, HomeItem] = {}
    merged = {s: [i for q in queue.values() for i in q.sections[s]] for s in SECTIONS}
    for section in SECTIONS:
        items = sorted(merged[section], key=_order(section))
        shown = [_item(i) for i in items if i.case_id not in muted_ids]
        muted.update((i.case_id, _item(i)) for i in items if i.case_id in muted_ids)
        sections.append(HomeSection(key=section.value, title=section.heading, items=shown,
                                    alarm=section.alarm))
    return HomeData(now=now, sections=sections, muted=sorted(muted.values(), key=lambda i: i.reference),
                    team=team, team_titles=tuple(SHORT_TITLES[s] for s in SECTIONS), admin_queue=admin,
                    page=page, rows=runtime.settings.caseroom_home_rows)


def _order(section: Section) -> Any:
    if section is Section.exclusive_ending:
        return lambda i: (i.due, i.reference)
    if section.alarm:
        return lambda i: (i.since or float("inf"), i.reference)
    return lambda i: (-i.since, i.reference)


async def home_view(runtime: Runtime, user_id: str, *, page: int = 0, now: float | None = None,
                    unknown: list[bool] | None = None) -> dict[str, Any]:
    """The Home view for `user_id`: never raises for Redis or a refused person (says so instead).
    `unknown`: see `home_data`."""
    now = time.time() if now is None else now
    try:
        try:
            user = await identity.check_user(runtime, user_id)
        except Refused as exc:
            return build_home_message("Caseroom", [exc.message])
        if not user.email:
            return build_no_account_home(None)
        admin = await identity.is_admin(runtime, user_id)
        data = await home_data(runtime, user_id, user.email, admin=admin, page=page, now=now, unknown=unknown)
        if data is None:
            return build_no_account_home(user.email)
        return build_home(data)
    except (RedisError, ConnectionError) as exc:
        log.warning("App Home for %s served degraded: Redis unavailable (%s)", user_id, type(exc).__name__)
        return build_degraded_home()


async def show_home(runtime: Runtime, user_id: str, *, page: int = 0, opened: bool = False) -> None:
    """Build and publish `user_id`'s Home (paced; see bot/slack/home.py). `opened`: Slack sent
    `app_home_opened` (noted for `caseroom check`)."""
    started = time.perf_counter()
    unknown: list[bool] = []
    view = await home_view(runtime, user_id, page=page, unknown=unknown)
    await publish_home(runtime, user_id, view)
    if unknown:  # off the publish path: no Debitura request before this Home went out
        task = asyncio.get_running_loop().create_task(_load_team_then_show(runtime, user_id, page))
        _team_loads.add(task)
        task.add_done_callback(_team_loads.discard)
    if opened and view.get("callback_id") != DEGRADED:
        with contextlib.suppress(RedisError, ConnectionError):
            await runtime.stores.attention.note_home_opened(time.time())
    log.debug("App Home of %s published in %.0f ms", user_id, (time.perf_counter() - started) * 1000)


# --- mutes and settings --------------------------------------------------------------------------------

async def mute_case(runtime: Runtime, case: Case, *, user_id: str, muted: bool) -> Message:
    """`/case mute <ref>` / `/case unmute <ref>`: the reply says what changed."""
    changed = await mute(runtime, user_id, case.id, muted=muted)
    title = esc(case_title(case))
    undo = f"`{esc(runtime.settings.caseroom_command)} unmute {esc(case.reference or case.id)}` undoes it."
    if muted:
        if not changed:
            return build_notice(f"{title} was already muted. {undo}")
        return build_notice(f":no_bell: Muted {title}: it leaves your Home queue, and Caseroom sends you no "
                            f"messages or reminders about it. {undo}")
    if not changed:
        return build_notice(f"{title} was not muted.")
    return build_notice(f":bell: Unmuted {title}: it is back in your Home queue, messages and reminders.")


async def mute(runtime: Runtime, user_id: str, case_id: str, *, muted: bool) -> bool:
    """Mute (or unmute) a case for a person: True when it changed."""
    store = runtime.stores.attention
    if muted:
        return await store.mute(user_id, case_id)
    return await store.unmute(user_id, case_id)


async def mute_listed(runtime: Runtime, user_id: str, case_id: str, *, muted: bool) -> bool:
    """A Home button's mute: only a case this workspace's relay has read can be muted so (the Home lists
    nothing else; a button copied from another workspace's Home names a case of theirs). Unmuting is
    always allowed."""
    if muted and (await runtime.stores.cases.load(case_id)).case is None:
        raise BadInput("That case is not one of this workspace's. Open the Home tab again.")
    return await mute(runtime, user_id, case_id, muted=muted)


def _defaults(runtime: Runtime) -> Prefs:
    return Prefs.defaults(runtime.settings)


async def settings_view(runtime: Runtime, user_id: str, *, page: int = 0) -> dict[str, Any]:
    prefs = await runtime.stores.attention.prefs(user_id, _defaults(runtime))
    span = prefs.quiet_span()
    options = {name for name, on in (("channel_only", prefs.channel_only), ("digest", prefs.digest),
                                     ("weekends", prefs.weekends)) if on}
    form = PrefsForm(dms=frozenset(k.value for k in prefs.dms),
                     reminders=frozenset(k.value for k in prefs.reminders), options=frozenset(options),
                     quiet_start=_clock(span[0]) if span else None,
                     quiet_end=_clock(span[1]) if span else None, digest_time=prefs.digest_time)
    return build_settings_view(form, page=page)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


async def save_settings(runtime: Runtime, user_id: str, form: PrefsForm) -> None:
    quiet = f"{form.quiet_start}-{form.quiet_end}" if form.quiet_start and form.quiet_end else ""
    changes: dict[str, Any] = {
        "dms": {DmKind(k) for k in form.dms},
        "reminders": {ReminderKind(k) for k in form.reminders},
        "channel_only": "channel_only" in form.options,
        "digest": "digest" in form.options,
        "weekends": "weekends" in form.options,
        "quiet_hours": quiet,
    }
    if form.digest_time:
        changes["digest_time"] = form.digest_time
    await runtime.stores.attention.change_prefs(user_id, **changes)


async def _load_team_then_show(runtime: Runtime, user_id: str, page: int) -> None:
    """The person has no case and no team list is cached, so whether they have a Debitura account is not
    known: load the team list (`GET /users` through the identity cache, counted in the budget; one
    process at a time, and not again while the list is fresh) and publish their Home again."""
    store = runtime.stores.identity
    try:
        if await store.claim_team_load():
            _, refreshed = await store.team_member("")
            if not refreshed:
                await identity.refresh_team_members(runtime)
        else:  # another Home (or process) is loading it: wait for the list, then publish
            for _ in range(TEAM_LOAD_WAIT):
                await asyncio.sleep(1.0)
                if (await store.team_member(""))[1]:
                    break
            else:
                return
        await show_home(runtime, user_id, page=page)
    except Exception as exc:  # the Home already shown stays; the next opening tries again
        log.warning("App Home: could not load the Debitura team list (%s)", type(exc).__name__)
