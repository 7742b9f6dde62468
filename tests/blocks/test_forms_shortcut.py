"""Pure helpers of the write modals: the shortcut's note text, pending values in the metadata."""

from __future__ import annotations

from blocks import forms
from blocks.forms import CaseSummary
from blocks.metadata import CaseRef, ModalContext
from blocks.parse import SLACK_INPUT_MAX
from bot.listeners.modals import note_text_from_message, pending_of, plain_words, with_pending
from tests.fakes.slack.validation import validate_view

LINK = "https://fake.slack.com/archives/C1/p1700000000000100"


def test_shortcut_text_keeps_the_permalink_within_3000() -> None:
    text = note_text_from_message("x" * 10_000, LINK)
    assert len(text) == SLACK_INPUT_MAX
    assert text.endswith(f"(From Slack: {LINK})")
    assert "…" in text
    view = forms.build_note_view(
        ModalContext(kind="note"), CaseSummary(reference="Q8OAXF3W"), initial_text=text
    )
    assert validate_view(view) == []


def test_shortcut_text_short_and_empty_messages() -> None:
    assert note_text_from_message("  Call back at 3  ", LINK) == f"Call back at 3\n\n(From Slack: {LINK})"
    assert note_text_from_message("", LINK) == f"(From Slack: {LINK})"
    assert note_text_from_message("only text", None) == "only text"


def test_pending_values_round_trip_through_the_metadata() -> None:
    ctx = ModalContext(kind="fees", case=CaseRef(id="c1", ref="R"), extra={"tz": "UTC", "p.old": "x"})
    pending = {
        "principal": "1000.00",
        "interest_fees": "0.00",
        "reminder_fees": "0.00",
        "collection_fees": "1.00",
    }
    updated = with_pending(ctx, "confirm", pending)
    back = ModalContext.decode(updated.encode_metadata())
    assert pending_of(back) == pending
    assert back.extra["tz"] == "UTC" and back.extra["stage"] == "confirm"


def test_plain_words_for_form_errors() -> None:
    assert plain_words("`a &amp; b` is &lt;bad&gt;") == "a & b is <bad>"
