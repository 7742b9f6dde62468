"""Pure parts of bot.services.threads: what counts as a person's thread reply, the relay's stamp, keys."""

from __future__ import annotations

from typing import Any

import pytest

from blocks.metadata import RelayStamp
from bot.services.threads import note_key, note_text, offer_reply, reply_key, thread_reply, too_long
from bot.slack.threads import relay_stamp, relayed_item

REPLY: dict[str, Any] = {"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "2.000200",
                         "thread_ts": "1.000100", "parent_user_id": "UBOT", "channel_type": "group"}


def test_a_persons_thread_reply_is_read() -> None:
    reply = thread_reply(REPLY)
    assert reply is not None
    assert (reply.channel_id, reply.ts, reply.thread_ts, reply.user_id, reply.text, reply.parent_user_id) == (
        "C1", "2.000200", "1.000100", "U1", "hi", "UBOT")
    assert thread_reply({**REPLY, "subtype": "thread_broadcast"}) is not None  # "also send to channel"


@pytest.mark.parametrize("change", [
    {"thread_ts": None},                       # top-level
    {"thread_ts": "2.000200"},                 # a thread's parent
    {"subtype": "message_changed"},            # edits are handled apart
    {"subtype": "bot_message", "user": None},  # another app
    {"bot_id": "B1"},                          # an app posting as a user
    {"subtype": "channel_join"},
    {"user": None},
])
def test_other_messages_are_not_replies(change: dict[str, Any]) -> None:
    event = {k: v for k, v in {**REPLY, **change}.items() if v is not None}
    assert thread_reply(event) is None


class Untouchable:
    """A runtime that must not be used: ignoring a message costs no call."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"runtime.{name} used for a message that is not a thread reply")


async def test_ignored_messages_cost_nothing() -> None:
    runtime: Any = Untouchable()
    top_level = await offer_reply(runtime, {**REPLY, "thread_ts": None}, bot_user_id="UBOT")
    assert top_level.startswith("ignored")
    assert (await offer_reply(runtime, {**REPLY, "parent_user_id": "U2"}, bot_user_id="UBOT")) == \
        "ignored:not under a Caseroom message"


def test_relay_stamp_is_read_only_from_caseroom_metadata() -> None:
    stamp = {"event_type": "caseroom_item", "event_payload": {"item_id": "chat:abc", "case_id": "case-1"}}
    assert relayed_item({"metadata": stamp}) == ("chat:abc", "case-1")
    assert relayed_item({"metadata": {**stamp, "event_type": "other_app"}}) is None
    no_case = {"event_type": "caseroom_item", "event_payload": {"item_id": "x"}}
    assert relayed_item({"metadata": no_case}) is None
    assert relayed_item({}) is None and relayed_item(None) is None


def test_the_stamp_carries_a_chats_role_when_the_relay_wrote_it() -> None:
    written = RelayStamp(item_id="chat:abc", case_id="case-1", role=1).to_slack()
    assert written == {"event_type": "caseroom_item",
                       "event_payload": {"item_id": "chat:abc", "case_id": "case-1", "role": 1}}
    stamp = relay_stamp({"metadata": written})
    assert stamp is not None and stamp.role == 1
    assert relayed_item({"metadata": written}) == ("chat:abc", "case-1")
    payload: dict[str, Any] = {"item_id": "chat:abc", "case_id": "case-1"}
    older = {"event_type": "caseroom_item", "event_payload": payload}
    stamp = relay_stamp({"metadata": older})
    assert stamp is not None and stamp.role is None  # posted before the role was stamped: look it up
    assert RelayStamp(item_id="tl:x", case_id="c").to_slack()["event_payload"] == {"item_id": "tl:x",
                                                                                    "case_id": "c"}
    assert relay_stamp({"metadata": {**older, "event_payload": {**payload, "role": "x"}}}) is None


def test_keys_are_stable_per_message_and_distinct_per_purpose() -> None:
    assert reply_key("C1", "2.0") == reply_key("C1", "2.0")
    assert reply_key("C1", "2.0") != reply_key("C1", "2.1") != reply_key("C2", "2.0")
    assert reply_key("C1", "2.0") != note_key("C1", "2.0")
    assert len(reply_key("C" * 32, "9" * 20)) <= 255  # the API's Idempotency-Key limit


def test_note_text_and_limits() -> None:
    assert note_text("  called  ", author="bob", permalink="https://x/p1") == \
        "called\n\n(Written by bob in Slack: https://x/p1)"
    assert note_text("called", author="bob", permalink=None) == "called\n\n(Written by bob in Slack)"
    assert "10,001 characters" in too_long("chat message", 10_001, 10_000)
    assert "at most 10,000 in a chat message" in too_long("chat message", 10_001, 10_000)
