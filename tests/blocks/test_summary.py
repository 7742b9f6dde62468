"""The pinned case summary: what it shows, valid Block Kit, and the test case label."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from blocks.summary import build_summary
from tests.fakes.slack.validation import assert_valid_message

END = datetime(2026, 12, 6, tzinfo=UTC).timestamp()


def test_summary_shows_amounts_lifecycle_period_validation_assignee() -> None:
    text, blocks = build_summary(
        reference="Q8OAXF3W", debtor="Acme & Co", principal="1234.5", fees="55.25", outstanding="1039.75",
        currency="EUR", lifecycle="Active", phase="Legal", period_end=END, needs_info=True,
        assignee="Jane Agent", is_test=False, today=date(2026, 11, 26))
    assert_valid_message({"text": text, "blocks": blocks})
    shown = json.dumps(blocks, ensure_ascii=False)
    for part in ("1,234.50 EUR", "55.25 EUR", "1,039.75 EUR", "Active", "Legal", "2026-12-06 (10 days left)",
                 "needs info", "Jane Agent", "Acme &amp; Co"):
        assert part in shown, part
    assert "Test case" not in shown


def test_summary_without_period_and_of_a_test_case() -> None:
    _, blocks = build_summary(
        reference="Q8OAXF3W", debtor="", principal="", fees="", outstanding="", currency="",
        lifecycle="Paused", phase="", period_end=0.0, needs_info=False, assignee="", is_test=True,
        today=date(2026, 11, 26))
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "Test case" in shown and "*Exclusive period ends*\\nNone" in shown and "*Validation*\\nOK" in shown
