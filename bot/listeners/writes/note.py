"""Add a note: from a case (button, `/case note <ref>`), or from a message (the shortcut), where the
form asks for the case when the channel is not a case channel (the pick flow)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from blocks import forms
from blocks.ids import Action, Block, Callback
from blocks.metadata import CaseRef, ModalContext
from blocks.parse import FormErrors, NoteForm, parse_note_form, parse_pick_case_form
from bot.debitura.errors import DebituraError, NotFound
from bot.debitura.models import NOTE_MAX
from bot.listeners.writes.flow import (
    Opener,
    Reply,
    Submission,
    View,
    Write,
    WriteFlow,
    WriteKind,
    allowed,
    channel_id_of,
    context_for,
    summary_of,
    tz_extra,
    user_id_of,
    user_timezone,
    zone,
)
from bot.listeners.writes.views import fill, open_loading
from bot.services import lookup, notes, threads
from bot.services.errors import BadInput

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.debitura.models import Case
    from bot.runtime import Runtime
    from bot.services.writes import WriteResult

log = logging.getLogger(__name__)

PICK_RESOLVE_TIMEOUT = 2.0
"""Seconds a case lookup may take inside the pick-case ack (Slack allows 3 in all)."""


def note_key(form: NoteForm) -> dict[str, str]:
    return {"text": form.text, "at": str(form.event_date or "")}


class NoteFlow(WriteFlow[NoteForm]):
    kind = WriteKind.NOTE
    callback = Callback.NOTE
    title = "Add note"
    where = "submit note"
    key_kind = "note"
    open_action = Action.OPEN_NOTE

    async def form(self, runtime: Runtime, case: Case, opener: Opener) -> View:
        tz = await user_timezone(runtime, opener.user_id)
        ctx = context_for(self.kind, case, user_id=opener.user_id, channel_id=opener.channel_id,
                          **tz_extra(tz))
        return forms.build_note_view(ctx, summary_of(case), timezone=tz)

    async def parse(self, runtime: Runtime, sub: Submission) -> NoteForm | FormErrors:
        return parse_note_form(sub.values, now=datetime.now(UTC), tz=zone(sub.tz))

    def key_fields(self, form: NoteForm, sub: Submission) -> Mapping[str, str]:
        return note_key(form)

    def fixed_key(self, sub: Submission) -> str | None:
        """Opened by the message shortcut in a case channel: one note per message (the note reaction
        uses the same key)."""
        channel, ts = sub.ctx.extra.get(MESSAGE_CHANNEL), sub.ctx.extra.get(MESSAGE_TS)
        return threads.note_key(channel, ts) if channel and ts else None

    async def call(self, runtime: Runtime, write: Write[NoteForm]) -> WriteResult:
        return await notes.add_note(runtime, case=write.case, form=write.form, user_id=write.actor.user_id)


MESSAGE_CHANNEL = "mch"
MESSAGE_TS = "mts"


@dataclass(frozen=True, slots=True)
class PickedNote:
    """The pick form: the note, the case asked for, and the case when it was found inside the ack."""

    note: NoteForm
    query: lookup.CaseQuery
    case: Case | None


class PickCaseFlow(WriteFlow[PickedNote]):
    kind = WriteKind.PICK
    callback = Callback.PICK_CASE
    title = "Add note"
    where = "submit note (picked case)"
    key_kind = "note"

    async def parse(self, runtime: Runtime, sub: Submission) -> PickedNote | FormErrors:
        form = parse_pick_case_form(sub.values, now=datetime.now(UTC), tz=zone(sub.tz))
        if isinstance(form, FormErrors):
            return form
        try:
            query = lookup.parse_ref(form.ref)
        except BadInput as exc:
            return FormErrors({Block.PICK_CASE: plain_words(exc.message)})
        case: Case | None = None
        try:
            case = await asyncio.wait_for(lookup.fetch_case(runtime, query, ref=form.ref),
                                          timeout=PICK_RESOLVE_TIMEOUT)
        except NotFound:
            return FormErrors({
                Block.PICK_CASE: f"No case {form.ref} among the cases assigned to you. Check the reference."})
        except lookup.HiddenTestCase as exc:
            return FormErrors({Block.PICK_CASE: plain_words(exc.message)})
        except (TimeoutError, DebituraError):
            case = None  # looked up again after the ack, where errors are shown with an id
        return PickedNote(note=form.note, query=query, case=case)

    def case_ref(self, sub: Submission) -> CaseRef | None:
        return None

    async def load(self, runtime: Runtime, form: PickedNote, ref: CaseRef | None) -> Case:
        return form.case if form.case is not None else await lookup.fetch_case(runtime, form.query)

    def key_fields(self, form: PickedNote, sub: Submission) -> Mapping[str, str]:
        return note_key(form.note)

    async def call(self, runtime: Runtime, write: Write[PickedNote]) -> WriteResult | Reply:
        return await notes.add_note(runtime, case=write.case, form=write.form.note,
                                    user_id=write.actor.user_id)


NOTE = NoteFlow()
PICK = PickCaseFlow()


def plain_words(mrkdwn_text: str) -> str:
    """Form errors are plain text: drop mrkdwn backticks and unescape what esc() escaped."""
    text = mrkdwn_text.replace("`", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# --- the message shortcut ------------------------------------------------------------------------

async def open_note_from_message(runtime: Runtime, client: AsyncWebClient, body: dict[str, Any]) -> None:
    """The message shortcut: the note form filled with the message and its permalink."""
    user_id = user_id_of(body)
    channel_id = channel_id_of(body)
    message = body.get("message") or {}
    view_id, view_hash = await open_loading(client, str(body.get("trigger_id") or ""), NOTE.title)

    async def build() -> View:
        await allowed(runtime, user_id, NOTE)
        permalink = await message_permalink(runtime, channel_id, str(message.get("ts") or ""))
        text = note_text_from_message(str(message.get("text") or ""), permalink)
        tz = await user_timezone(runtime, user_id)
        case_id = await lookup.case_id_for_channel(runtime, channel_id)
        if case_id is None:
            ctx = ModalContext(kind=str(WriteKind.PICK), ch=channel_id, user=user_id, extra=tz_extra(tz))
            return forms.build_pick_case_view(ctx, initial_text=text, timezone=tz)
        case = await runtime.debitura.get_case(case_id)
        source = {MESSAGE_CHANNEL: channel_id or "", MESSAGE_TS: str(message.get("ts") or "")}
        ctx = context_for(WriteKind.NOTE, case, user_id=user_id, channel_id=channel_id, **tz_extra(tz),
                          **source)
        return forms.build_note_view(ctx, summary_of(case), initial_text=text, timezone=tz)

    await fill(client, view_id, view_hash, NOTE.title, build, where="shortcut note from message")


async def message_permalink(runtime: Runtime, channel_id: str | None, ts: str) -> str | None:
    if not channel_id or not ts:
        return None
    try:
        response = await runtime.slack.chat_getPermalink(channel=channel_id, message_ts=ts)
    except SlackApiError as exc:
        log.info("chat.getPermalink failed for %s/%s: %s", channel_id, ts, exc.response.get("error"))
        return None
    link = response.get("permalink")
    return str(link) if link else None


def note_text_from_message(text: str, permalink: str | None) -> str:
    """The message text plus its permalink, whole: the note form spreads it over its fields, and a
    note takes NOTE_MAX characters. Raises BadInput, with the limit named, when it is longer: the
    text is never cut."""
    suffix = f"\n\n(From Slack: {permalink})" if permalink else ""
    body = text.strip()
    whole = (body + suffix).strip()
    submitted = forms.note_as_submitted(whole)
    if submitted is None or len(submitted) > NOTE_MAX:
        size = len(submitted) if submitted is not None else len(whole)
        raise BadInput(
            f"This message makes a note of {size:,} characters (with the link back to it); a note holds "
            f"at most {NOTE_MAX:,}, so it was not put in a note form. Copy the part you need into "
            "`/case note`, or add it as two notes.")
    return whole
