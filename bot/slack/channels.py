"""One Slack channel per case: create or reuse it, invite its people, keep its topic, archive on close.

The mapping is kept by `runtime.stores.channels` (bot/store/channels.py): the channel id is what we
keep (names change on archive), the name is what we show. Channel names are
`<CASEROOM_CHANNEL_PREFIX><reference in lower case>`.

`name_taken` on create: when Redis knows a channel we created under that name (checked with
conversations.info), it is ours and is reused (unarchived if it was archived); otherwise the name
belongs to somebody else and we add a suffix (`-2`, `-3`, ...).

Errors Slack answers for good (missing scopes, restricted actions) raise `SlackApiError`; the caller
decides. A 429 also propagates, so the relay can pause the method and retry later.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from blocks.metadata import RelayStamp
from bot.debitura.models import Case
from bot.slack import sharing
from bot.slack.errors import slack_error
from bot.store.snapshots import CaseSnap, short_hash, snapshot_case

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

MAX_CHANNEL_NAME = 80
MAX_SUFFIX_TRIES = 20
CLOSED_SUFFIX = "-closed"
_INVALID = re.compile(r"[^a-z0-9_-]+")
_IGNORED_INVITE_ERRORS = {"already_in_channel", "cant_invite_self", "user_is_restricted", "user_not_found",
                          "cant_invite", "ura_max_channels", "user_is_ultra_restricted"}


@dataclass(frozen=True, slots=True)
class CaseChannel:
    id: str
    name: str
    case_id: str
    created: bool = False
    """True when this call created (or adopted) the channel."""
    archived: bool = False
    summary_pending: bool = False
    """A summary post may have landed without its ts recorded (a crash): set_summary repairs it."""


def channel_name(prefix: str, reference: str, suffix: str = "") -> str:
    """A valid Slack channel name: lower case, `-` for anything else, at most 80 characters."""
    base = _INVALID.sub("-", f"{prefix}{reference}".lower()).strip("-_") or "case"
    room = MAX_CHANNEL_NAME - len(suffix)
    return base[:room].rstrip("-_") + suffix


def _snap(case: Case | CaseSnap) -> CaseSnap:
    return case if isinstance(case, CaseSnap) else snapshot_case(case)


async def channel_for_case(runtime: Runtime, case_id: str) -> CaseChannel | None:
    rec = await runtime.stores.channels.record(case_id)
    if not rec.get("id"):
        return None
    return CaseChannel(id=rec["id"], name=rec.get("name", ""), case_id=case_id,
                       archived=rec.get("archived") == "1",
                       summary_pending=(rec.get("pin") or "").startswith(PENDING_PIN))


async def case_for_channel(runtime: Runtime, channel_id: str) -> str | None:
    return await runtime.stores.channels.case_for_channel(channel_id)


async def _record(runtime: Runtime, case_id: str, channel_id: str, name: str, base: str,
                  archived: bool) -> None:
    await runtime.stores.channels.save(case_id, channel_id, name=name, base=base, archived=archived)


async def _forget(runtime: Runtime, case_id: str, channel_id: str) -> None:
    await runtime.stores.channels.forget(case_id, channel_id)


async def _info(runtime: Runtime, channel_id: str) -> dict[str, Any] | None:
    try:
        resp = await runtime.slack.conversations_info(channel=channel_id)
    except SlackApiError as exc:
        if slack_error(exc) == "channel_not_found":
            return None
        raise
    channel = resp.get("channel")
    if not isinstance(channel, dict):
        return None
    await sharing.remember(runtime, channel_id, channel)  # the relay's Slack Connect check, for free
    return channel


async def _unarchive(runtime: Runtime, channel_id: str) -> None:
    try:
        await runtime.slack.conversations_unarchive(channel=channel_id)
    except SlackApiError as exc:
        if slack_error(exc) != "not_archived":
            raise


async def _rename(runtime: Runtime, channel_id: str, name: str) -> str | None:
    """Rename; None if the name is taken (the caller keeps the old name)."""
    try:
        resp = await runtime.slack.conversations_rename(channel=channel_id, name=name)
    except SlackApiError as exc:
        if slack_error(exc) in ("name_taken", "not_modified"):
            return None
        raise
    channel = resp.get("channel") or {}
    return str(channel.get("name") or name)


async def invite_people(runtime: Runtime, channel_id: str, *, emails: list[str],
                        user_ids: list[str]) -> list[str]:
    """Invite users (Slack ids, and the Slack accounts of `emails`); returns the ids asked for."""
    ids = list(dict.fromkeys(u for u in user_ids if u))
    for email in emails:
        if not email:
            continue
        try:
            resp = await runtime.slack.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            if slack_error(exc) == "users_not_found":
                log.info("no Slack account for a case assignee; not invited")
                continue
            raise
        user = resp.get("user") or {}
        if user.get("id"):
            ids.append(str(user["id"]))
    ids = list(dict.fromkeys(ids))
    for start in range(0, len(ids), 100):
        batch = ids[start:start + 100]
        try:
            await runtime.slack.conversations_invite(channel=channel_id, users=",".join(batch))
        except SlackApiError as exc:
            if slack_error(exc) not in _IGNORED_INVITE_ERRORS:
                raise
            # One bad user fails the batch: retry one by one so the others still get in.
            if len(batch) > 1:
                for user_id in batch:
                    try:
                        await runtime.slack.conversations_invite(channel=channel_id, users=user_id)
                    except SlackApiError as inner:
                        if slack_error(inner) not in _IGNORED_INVITE_ERRORS:
                            raise
    return ids


async def invite_assignee(runtime: Runtime, case_id: str, email: str) -> bool:
    """Invite the case's (new) assigned user, once per assignee; False if the case has no channel."""
    ch = await channel_for_case(runtime, case_id)
    if ch is None or ch.archived:
        return False
    store = runtime.stores.channels
    if (await store.field(case_id, "assignee") or "") == email.lower():
        return True
    await invite_people(runtime, ch.id, emails=[email], user_ids=[])
    await store.update(case_id, assignee=email.lower())
    return True


async def set_topic(runtime: Runtime, case_id: str, topic: str) -> bool:
    """Set the channel topic (plain text, at most 250 characters) if it differs; False if no channel."""
    ch = await channel_for_case(runtime, case_id)
    if ch is None:
        return False
    store = runtime.stores.channels
    if await store.field(case_id, "topic") == topic:
        return True
    try:
        await runtime.slack.conversations_setTopic(channel=ch.id, topic=topic[:250])
    except SlackApiError as exc:
        if slack_error(exc) == "is_archived":
            return True  # shown again when the channel comes back
        raise
    await store.update(case_id, topic=topic)
    return True


async def _adopt_known(runtime: Runtime, case_id: str, name: str) -> CaseChannel | None:
    """`name_taken`: is it the channel we created under this name? Reuse it (unarchived) if so."""
    known = await runtime.stores.channels.channel_named(name)
    if not known:
        return None
    info = await _info(runtime, known)
    if info is None:
        return None
    owner = await runtime.stores.channels.case_for_channel(known)
    if owner and owner != case_id:
        return None
    if info.get("is_archived"):
        await _unarchive(runtime, known)
    current = str(info.get("name") or name)
    if current != name:
        current = await _rename(runtime, known, name) or current
    await _record(runtime, case_id, known, current, name, archived=False)
    return CaseChannel(id=known, name=current, case_id=case_id, created=True)


async def _create(runtime: Runtime, snap: CaseSnap) -> CaseChannel:
    settings = runtime.settings
    base = channel_name(settings.caseroom_channel_prefix, snap.reference or snap.id[:8])
    for attempt in range(1, MAX_SUFFIX_TRIES + 1):
        name = base if attempt == 1 else channel_name(settings.caseroom_channel_prefix,
                                                      snap.reference or snap.id[:8], f"-{attempt}")
        try:
            resp = await runtime.slack.conversations_create(name=name,
                                                            is_private=not settings.caseroom_public_channels)
        except SlackApiError as exc:
            if slack_error(exc) != "name_taken":
                raise
            adopted = await _adopt_known(runtime, snap.id, name)
            if adopted is not None:
                return adopted
            continue
        channel = resp.get("channel") or {}
        channel_id = str(channel["id"])
        real_name = str(channel.get("name") or name)
        await _record(runtime, snap.id, channel_id, real_name, real_name, archived=False)
        await sharing.remember(runtime, channel_id, channel)
        log.info("created case channel", extra={"case_id": snap.id, "channel": channel_id})
        return CaseChannel(id=channel_id, name=real_name, case_id=snap.id, created=True)
    raise RuntimeError(f"no free channel name for case {snap.reference or snap.id} "
                       f"after {MAX_SUFFIX_TRIES} tries")


async def ensure_case_channel(runtime: Runtime, case: Case | CaseSnap) -> CaseChannel:
    """The case's channel, created (and its people invited, its topic set) or brought back if archived."""
    snap = _snap(case)
    existing = await channel_for_case(runtime, snap.id)
    if existing is not None:
        if not existing.archived:
            if existing.summary_pending:  # its summary was being posted when a process died
                await _pin_summary(runtime, snap, existing.id)
            return existing
        reopened = await unarchive_case_channel(runtime, snap.id)
        if reopened is not None:
            return reopened
    channel = await _create(runtime, snap)
    await invite_people(runtime, channel.id, emails=[snap.assignee_email],
                        user_ids=list(runtime.settings.caseroom_default_members))
    if snap.assignee_email:
        await runtime.stores.channels.update(snap.id, assignee=snap.assignee_email.lower())
    await set_topic(runtime, snap.id, case_topic(snap))
    if snap.lifecycle == "Active":
        await _pin_summary(runtime, snap, channel.id)
    return channel


async def _pin_summary(runtime: Runtime, snap: CaseSnap, channel_id: str) -> None:
    try:
        await set_summary(runtime, snap.id, snap)
    except SlackApiError as exc:
        # The channel works without it; the relay pins it at the case's next change.
        log.warning("could not pin the case summary: %s", slack_error(exc),
                    extra={"case_id": snap.id, "channel": channel_id})


def case_topic(snap: CaseSnap) -> str:
    """The channel topic of a case (plain text), `Test case · ` first for a Debitura test case."""
    from blocks.relay import MAX_TOPIC, build_topic

    topic = build_topic(debtor=snap.debtor, outstanding=snap.outstanding, currency=snap.currency,
                        lifecycle=snap.lifecycle_display or snap.lifecycle, phase=snap.phase)
    return f"Test case · {topic}"[:MAX_TOPIC] if snap.is_test else topic


def case_summary(snap: CaseSnap, today: date | None = None) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) of the case channel's pinned summary."""
    from blocks.summary import build_summary

    return build_summary(
        reference=snap.reference or snap.id[:8], debtor=snap.debtor, principal=snap.principal, fees=snap.fees,
        outstanding=snap.outstanding, currency=snap.currency,
        lifecycle=snap.lifecycle_display or snap.lifecycle,
        phase=snap.phase, period_end=snap.period_end, needs_info=snap.needs_info,
        assignee=snap.assignee_name or snap.assignee_email, is_test=snap.is_test,
        today=today or datetime.now(UTC).date())


def summary_digest(text: str, blocks: list[dict[str, Any]]) -> str:
    return short_hash(json.dumps([text, blocks], sort_keys=True, ensure_ascii=False), 16)


SUMMARY_ITEM = "summary"
"""The item id the summary message is stamped with (blocks.metadata.RelayStamp), found again by it."""
PENDING_PIN = "pending|"
"""The channel record's `pin` while a summary is posted: `pending|<unix time>` (no ts recorded yet)."""
HISTORY_SLACK = 30.0
HISTORY_PAGES = 5


async def set_summary(runtime: Runtime, case_id: str, snap: CaseSnap) -> bool:
    """Keep the channel's pinned summary current: edit it (chat.update) when what it shows changed; post
    and pin it (pins.add) when the channel has none and the case is active. False when the case has no
    open channel. The message ts and the digest of what it shows are kept in the channel record (`pin`,
    `summary`).

    Posted exactly once, like the relay's posts (bot.relay.delivery): `pin` says `pending|<time>` before
    the post, which is stamped with the metadata RelayStamp(item_id="summary"); the ts is recorded once
    it is pinned. A process that died in between left `pending`: the next call looks in the channel's
    history since then for the stamped message and adopts it (pins it, records it), and posts only if
    it is not there."""
    ch = await channel_for_case(runtime, case_id)
    if ch is None or ch.archived:
        return False
    store = runtime.stores.channels
    text, blocks = case_summary(snap)
    digest = summary_digest(text, blocks)
    rec = await store.record(case_id)
    pinned = rec.get("pin") or ""
    shown = rec.get("summary") or ""
    if pinned.startswith(PENDING_PIN):
        pinned, shown = await _repair_summary(runtime, ch.id, case_id, pinned), ""
    if pinned:
        if shown == digest:
            return True
        try:
            await runtime.slack.chat_update(channel=ch.id, ts=pinned, text=text, blocks=blocks)
        except SlackApiError as exc:
            error = slack_error(exc)
            if error == "is_archived":
                return True
            if error not in ("message_not_found", "cant_update_message"):
                raise
            pinned = ""  # deleted by someone: post a new one below (if the case is active)
        else:
            await store.update(case_id, summary=digest)
            return True
    if snap.lifecycle != "Active":
        if not pinned and rec.get("pin"):
            await store.update(case_id, pin="", summary="")
        return True
    await store.update(case_id, pin=f"{PENDING_PIN}{time.time():.3f}")
    metadata = RelayStamp(item_id=SUMMARY_ITEM, case_id=case_id).to_slack()
    resp = await runtime.slack.chat_postMessage(channel=ch.id, text=text, blocks=blocks, metadata=metadata)
    ts = str(resp.get("ts") or "")
    await _pin(runtime, ch.id, ts)
    await store.update(case_id, pin=ts, summary=digest)
    return True


async def _pin(runtime: Runtime, channel_id: str, ts: str) -> None:
    try:
        await runtime.slack.pins_add(channel=channel_id, timestamp=ts)
    except SlackApiError as exc:
        if slack_error(exc) != "already_pinned":
            raise


async def _repair_summary(runtime: Runtime, channel_id: str, case_id: str, pending: str) -> str:
    """After a crash between posting the summary and recording it: the ts of the summary found in the
    channel's history (pinned and recorded now), or "" when it never reached Slack."""
    try:
        since = float(pending[len(PENDING_PIN):] or 0)
    except ValueError:
        since = 0.0
    ts = await _find_stamped(runtime, channel_id, case_id, SUMMARY_ITEM, since - HISTORY_SLACK)
    if ts is None:
        return ""
    log.info("repaired the case summary from channel history",
             extra={"case_id": case_id, "channel": channel_id})
    await _pin(runtime, channel_id, ts)
    await runtime.stores.channels.update(case_id, pin=ts, summary="")
    return ts


async def _find_stamped(runtime: Runtime, channel_id: str, case_id: str, item_id: str, oldest: float
                        ) -> str | None:
    """The ts of the message in the channel since `oldest` stamped with `item_id` for the case, if any."""
    cursor: str | None = None
    for _ in range(HISTORY_PAGES):
        kwargs: dict[str, Any] = {"channel": channel_id, "oldest": f"{max(0.0, oldest):.6f}",
                                  "include_all_metadata": True, "limit": 200, "inclusive": True}
        if cursor:
            kwargs["cursor"] = cursor
        resp = await runtime.slack.conversations_history(**kwargs)
        for message in resp.get("messages") or []:
            stamp = RelayStamp.from_slack(message.get("metadata"))
            if stamp is not None and stamp.item_id == item_id and stamp.case_id == case_id:
                return str(message["ts"])
        cursor = ((resp.get("response_metadata") or {}).get("next_cursor")) or None
        if not cursor:
            return None
    return None


async def archive_case_channel(runtime: Runtime, case_id: str) -> bool:
    """Rename the channel to `<name>-closed` (frees the name) and archive it; False if none."""
    rec = await runtime.stores.channels.record(case_id)
    if not rec.get("id"):
        return False
    if rec.get("archived") == "1":
        return True
    channel_id = rec["id"]
    base = rec.get("base") or rec.get("name") or ""
    name = rec.get("name") or base
    if not name.endswith(CLOSED_SUFFIX) and "-closed-" not in name:
        for attempt in range(1, MAX_SUFFIX_TRIES + 1):
            suffix = CLOSED_SUFFIX if attempt == 1 else f"{CLOSED_SUFFIX}-{attempt}"
            renamed = await _rename(runtime, channel_id, channel_name("", base, suffix))
            if renamed is not None:
                name = renamed
                break
    try:
        await runtime.slack.conversations_archive(channel=channel_id)
    except SlackApiError as exc:
        err = slack_error(exc)
        if err == "channel_not_found":
            await _forget(runtime, case_id, channel_id)
            return False
        if err != "already_archived":
            raise
    await runtime.stores.channels.update(case_id, archived="1", name=name)
    return True


async def unarchive_case_channel(runtime: Runtime, case_id: str) -> CaseChannel | None:
    """Bring an archived case channel back under its original name (if still free)."""
    rec = await runtime.stores.channels.record(case_id)
    if not rec.get("id"):
        return None
    channel_id = rec["id"]
    info = await _info(runtime, channel_id)
    if info is None:
        await _forget(runtime, case_id, channel_id)
        return None
    if info.get("is_archived"):
        await _unarchive(runtime, channel_id)
    name = str(info.get("name") or rec.get("name") or "")
    base = rec.get("base") or name
    if base and name != base:
        name = await _rename(runtime, channel_id, base) or name
    await runtime.stores.channels.update(case_id, archived="0", name=name)
    return CaseChannel(id=channel_id, name=name, case_id=case_id, archived=False)


async def forget_channel(runtime: Runtime, case_id: str) -> None:
    """The channel is gone (channel_not_found): the next ensure creates a new one."""
    ch = await channel_for_case(runtime, case_id)
    if ch is not None:
        await _forget(runtime, case_id, ch.id)


async def mark_archived(runtime: Runtime, case_id: str) -> None:
    """Slack said is_archived: remember, so the next ensure unarchives it."""
    await runtime.stores.channels.update(case_id, archived="1")
