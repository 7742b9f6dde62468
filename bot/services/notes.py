"""Add a note to a case (no Idempotency-Key on the API: an unknown outcome is resolved by re-reading
the timeline).

Notes are shared with the creditor and show in the case's timeline.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from blocks.parse import NoteForm
from blocks.text import esc, format_datetime, one_line, truncate
from bot.debitura.models import CreateNoteRequest, Note, Timeline
from bot.services.writes import Applied, Audit, Reread, WriteResult, write_through

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime

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
    ref = esc(case.reference or case.id)
    summary = {"chars": len(form.text),
               "event_date": form.event_date.isoformat() if form.event_date else None,
               "excerpt": truncate(one_line(form.text), SUMMARY_CHARS)}

    def done(note: Note) -> Applied:
        when = f" dated {format_datetime(note.event_date)}" if note.event_date else ""
        text = f"Note added to *{ref}*{when}. The creditor can see it."
        return Applied(WriteResult(ok=True, text=text, data={"note_id": note.id or ""}), {"note_id": note.id})

    def saved(timeline: Timeline) -> bool:
        return note_in_timeline(timeline, form.text, since=started, event_date=form.event_date)

    reread = Reread(
        "the timeline", lambda: runtime.debitura.get_timeline(case.id), saved, resolved="timeline",
        unreadable=(f"Debitura did not answer, and the timeline of *{ref}* could not be read either, so we "
                    "cannot tell whether the note was saved. Look at the timeline before adding it again."),
        not_applied=(f"Debitura did not answer, and the note is not in the timeline of *{ref}*: it was most "
                     "likely not saved. Check the timeline, then add it again."),
        confirmed=f"Note added to *{ref}* (Debitura was slow to answer; we found it in the timeline).")
    return await write_through(runtime, case=case, user_id=user_id,
                               audit_as=Audit("note", summary, line="added a note"),
                               send=lambda: runtime.debitura.create_note(case.id, request), done=done,
                               reread=reread)
