"""Relay message builders: escaping, splitting long text, Slack's limits (checked by the fake's validator)."""

from __future__ import annotations

from blocks.ids import Action
from blocks.metadata import CaseRef
from blocks.relay import (
    MAX_TOPIC,
    TimelineEntry,
    build_chat_message,
    build_close_summary,
    build_feed_line,
    build_payment_message,
    build_timeline_messages,
    build_topic,
    split_text,
)
from tests.fakes.slack.validation import validate_message

NOW = 1_800_000_000.0


def test_split_text_keeps_everything_and_respects_limit() -> None:
    text = ("word " * 3000) + "\n" + ("x" * 5000)
    chunks = split_text(text, 1000)
    assert all(len(c) <= 1000 for c in chunks)
    assert "".join(chunks).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert split_text("") == [""]


def test_chat_message_escapes_and_has_buttons() -> None:
    text, blocks = build_chat_message(case_id="c1", reference="Q8OAXF3W", author="<!channel> Eve",
                                      role_label="Creditor", from_creditor=True, created=NOW,
                                      message="Pay <http://evil|now> & <@U123>")
    raw = str(blocks)
    assert "<!channel>" not in raw and "&lt;!channel&gt;" in raw
    assert "&lt;http://evil|now&gt; &amp; &lt;@U123&gt;" in raw
    assert validate_message({"text": text, "blocks": blocks}) == []
    buttons = blocks[-1]["elements"]
    assert [b["action_id"] for b in buttons] == [Action.REPLY, Action.NOTE_FROM_RELAY]
    assert CaseRef.decode(buttons[0]["value"]).id == "c1"


def test_chat_message_10000_chars_split_not_cut() -> None:
    message = "\n".join(f"line {i} " + "y" * 80 for i in range(120))  # ~10,800 chars
    text, blocks = build_chat_message(case_id="c1", reference="R", author="A", role_label="Partner",
                                      from_creditor=False, created=NOW, message=message, edited_at=NOW + 5)
    assert validate_message({"text": text, "blocks": blocks}) == []
    body = "".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "line 119" in body and "line 0 " in body
    assert "written outside Caseroom" in str(blocks[0]) and "edited" in str(blocks)


def test_timeline_messages_grouped_under_block_limit() -> None:
    entries = [TimelineEntry(date=NOW + i, title=f"T{i} <b>", description="d" * 4000, actor="System")
               for i in range(45)]
    messages = build_timeline_messages(reference="R", entries=entries)
    assert len(messages) == 3
    for text, blocks in messages:
        assert validate_message({"text": text, "blocks": blocks}) == []
    assert "T0 &lt;b&gt;" in str(messages[0][1])


def test_other_messages_valid() -> None:
    for text, blocks in (
        build_payment_message(reference="R", amount="1234.5", currency="EUR", recipient="Creditor",
                              method="Bank", date=NOW, deleted=False),
        build_payment_message(reference="R", amount="", currency="", recipient="", method="", date=NOW,
                              deleted=True),
        build_close_summary(reference="R", debtor="D", close_code="Paid", outstanding="0", currency="EUR",
                            at=NOW, archived=True),
    ):
        assert text and validate_message({"text": text, "blocks": blocks}) == []


def test_topic_plain_and_bounded() -> None:
    topic = build_topic(debtor="A" * 400, outstanding="1234.5", currency="EUR", lifecycle="Active",
                        phase="Legal")
    assert len(topic) <= MAX_TOPIC
    short = build_topic(debtor="Acme", outstanding="1234.5", currency="EUR", lifecycle="Active", phase="")
    assert short == "Acme · Outstanding 1,234.50 EUR · Active · No engagement phase"


def test_feed_line_links_channel() -> None:
    assert build_feed_line(reference="R", summary="Creditor chat", channel_id="C1").startswith("<#C1> · ")
    assert build_feed_line(reference="<R>", summary="x", channel_id=None).startswith("&lt;R&gt;")
