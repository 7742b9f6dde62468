"""The thread-reply offer and its follow-ups: valid Block Kit, the value round-trips, text escaped."""

from __future__ import annotations

import json

from blocks.ids import Action
from blocks.metadata import MAX_BUTTON_VALUE, ThreadReply
from blocks.threads import (
    build_edit_not_sent,
    build_thread_kept,
    build_thread_notice,
    build_thread_offer,
    build_thread_sent,
    slack_time,
)
from tests.fakes.slack.validation import assert_valid_message

REPLY = ThreadReply(id="3f2b6a1e-8c1d-4f7a-9c55-0e7b3f1c2d4e", ref="Q8OAXF3W", chat="c" * 36,
                    ch="C0123456789", ts="1796283829.654551", th="1796283820.000100")


def test_offer_has_the_three_buttons_with_the_reply_and_quotes_the_text_escaped() -> None:
    message = build_thread_offer(REPLY, text="Pays <b>Friday</b> & more\nline two", sender="Anna <Berg>")
    assert_valid_message(message)
    dumped = json.dumps(message)
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [Action.THREAD_SEND, Action.THREAD_EDIT, Action.THREAD_SKIP]
    assert all(ThreadReply.decode(b["value"]) == REPLY for b in buttons)
    assert len(buttons[0]["value"]) < MAX_BUTTON_VALUE
    assert "&lt;b&gt;Friday&lt;/b&gt; &amp; more" in dumped and "<b>" not in dumped
    assert "> line two" in dumped and "Anna &lt;Berg&gt;" in dumped
    assert "Send this to the creditor as you?" in message["text"]


def test_offer_of_a_very_long_reply_stays_within_slack_limits_and_names_the_problem() -> None:
    message = build_thread_offer(REPLY, text="x" * 10_001, sender="Anna", problem="at most 10,000")
    assert_valid_message(message)
    assert "at most 10,000" in json.dumps(message)


def test_follow_ups_are_valid_and_say_what_happened() -> None:
    sent = build_thread_sent("Q8OAXF3W", at=1796283829.6)
    again = build_thread_sent("Q8OAXF3W", at=1796283829.6, replayed=True)
    for message in (sent, again, build_thread_kept(), build_edit_not_sent("Q8OAXF3W", at=None),
                    build_thread_notice("Guests cannot use Caseroom.")):
        assert_valid_message(message)
    assert "Sent to the creditor at <!date^1796283829^{time}|" in json.dumps(sent)
    assert "Already sent" in again["text"]
    assert "not* sent" in json.dumps(build_edit_not_sent("Q8OAXF3W", at=1796283829.0))


def test_slack_time_has_a_utc_fallback() -> None:
    assert slack_time(0) == "<!date^0^{time}|00:00 UTC>"
