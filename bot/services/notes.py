"""Add a note to a case (no Idempotency-Key on the API: an unknown outcome is resolved by re-reading).

Notes are shared with the creditor and show in the case's timeline.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from blocks.parse import NoteForm
from blocks.text import esc, format_datetime, one_line, truncate
from bot.debitura.errors import DebituraError, OutcomeUnknown
from bot.debitura.models import CreateNoteRequest, Timeline
from bot.services import audit
from bot.services.writes import WriteResult

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SUMMARY_CHARS = 200


def note_in_timeline(timeline: Timeline, text: str, *, since: datetime,
                     event_date: datetime | None = None) -> bool:
    """Whether the timeline holds a note with this text, dated after `since` or at `event_date`."""
    wanted = " ".join(text.split())
    slack = timedelta(minutes=5)
    for item in timeline.items:
        if not item.description or " ".join(item.description.split()) != wanted:
            continue
        if item.date is None or item.date >= since - slack:
            return True
        if event_date is not None and abs(item.date - event_date) <= slack:
            return True
    return False


async def add_note(runtime: Runtime, *, case: Case, form: NoteForm, user_id: str) -> WriteResult:
    """Create the note; audit it. Raises the client's errors except OutcomeUnknown, which is resolved."""
    started = datetime.now(UTC)
    request = CreateNoteRequest(description=form.text, event_date=form.event_date)
    summary = {"chars": len(form.text),
               "event_date": form.event_date.isoformat() if form.event_date else None,
               "excerpt": truncate(one_line(form.text), SUMMARY_CHARS)}
    reference = case.reference or case.id
    try:
        note = await runtime.debitura.create_note(case.id, request)
    except OutcomeUnknown:
        log.warning("note on case %s: outcome unknown; re-reading the timeline", case.id)
        try:
            timeline = await runtime.debitura.get_timeline(case.id)
        except DebituraError:
            return WriteResult(
                ok=False,
                text=(f"Debitura did not answer, and the timeline of *{esc(reference)}* could not be "
                      "read either, so we cannot tell whether the note was saved. Look at the timeline "
                      "before adding it again."))
        if not note_in_timeline(timeline, form.text, since=started, event_date=form.event_date):
            return WriteResult(
                ok=False,
                text=(f"Debitura did not answer, and the note is not in the timeline of *{esc(reference)}*: "
                      "it was most likely not saved. Check the timeline, then add it again."))
        await audit.record_write(runtime, user_id=user_id, action="note", case_id=case.id,
                                 case_reference=case.reference, summary=summary,
                                 result={"resolved": "timeline"}, line="added a note")
        return WriteResult(ok=True, text=(f"Note added to *{esc(reference)}* (Debitura was slow to answer; "
                                          "we found it in the timeline)."))
    await audit.record_write(runtime, user_id=user_id, action="note", case_id=case.id,
                             case_reference=case.reference, summary=summary,
                             result={"note_id": note.id}, line="added a note")
    when = f" dated {format_datetime(note.event_date)}" if note.event_date else ""
    return WriteResult(ok=True, text=f"Note added to *{esc(reference)}*{when}. The creditor can see it.",
                       data={"note_id": note.id or ""})
