"""Pure helpers of the write modals: the shortcut's note text, pending values in the metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from blocks import forms
from blocks.forms import CaseSummary
from blocks.metadata import CaseRef, ModalContext
from blocks.parse import NoteForm, parse_note_form
from bot.debitura.models import NOTE_MAX
from bot.listeners.modals import note_text_from_message, pending_of, plain_words, with_pending
from bot.services.errors import BadInput
from tests.fakes.slack.validation import validate_view

LINK = "https://fake.slack.com/archives/C1/p1700000000000100"


def _submitted(view: dict[str, Any]) -> dict[str, Any]:
    """The state values Slack sends when the form is submitted as it was filled."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        element = block.get("element") or {}
        if block.get("type") == "input" and element.get("type") == "plain_text_input":
            values[block["block_id"]] = {element["action_id"]: {"type": "plain_text_input",
                                                                "value": element.get("initial_value")}}
    return values


@pytest.mark.parametrize("words", [False, True])
def test_a_long_message_is_carried_whole_up_to_the_note_limit(words: bool) -> None:
    suffix = f"\n\n(From Slack: {LINK})"
    size = NOTE_MAX - len(suffix)
    # without a space to break at, each of the three field ends gains a line break when submitted
    body = ("word " * size)[: size - 1] + "." if words else "x" * (size - 3)
    text = note_text_from_message(body, LINK)
    assert text == body + suffix  # nothing cut
    view = forms.build_note_view(ModalContext(kind="note"), CaseSummary(reference="Q8OAXF3W"),
                                 initial_text=text)
    assert validate_view(view) == []
    parsed = parse_note_form(_submitted(view), now=datetime.now(UTC))
    assert isinstance(parsed, NoteForm)
    assert len(parsed.text) <= NOTE_MAX
    if words:  # fields end at a space, which the joining line break stands for
        assert parsed.text.replace("\n", " ") == text.replace("\n", " ") and len(parsed.text) == len(text)
    else:
        assert parsed.text.replace("\n", "") == text.replace("\n", "")


def test_a_message_longer_than_a_note_is_refused_with_the_limit() -> None:
    with pytest.raises(BadInput) as refused:
        note_text_from_message("y" * NOTE_MAX, LINK)
    assert f"at most {NOTE_MAX:,}" in refused.value.message
    with pytest.raises(BadInput):
        note_text_from_message("y " * (NOTE_MAX // 2) + "y", None)
    assert note_text_from_message("y " * (NOTE_MAX // 2), None) == ("y " * (NOTE_MAX // 2)).strip()


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
