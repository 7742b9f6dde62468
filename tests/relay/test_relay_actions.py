"""Reply / Add note buttons on relayed messages: the button value round-trips, bad values are refused."""

from __future__ import annotations

import pytest

from blocks.ids import Action
from blocks.relay import build_chat_message
from bot.listeners.relay_actions import BUTTON_KINDS, parse_button
from bot.services.errors import BadInput


def click(value: str, trigger: str = "123.456.abc") -> dict[str, object]:
    return {"actions": [{"action_id": Action.REPLY, "value": value}], "user": {"id": "U1"},
            "channel": {"id": "C1"}, "trigger_id": trigger}


def test_relay_buttons_map_to_chat_and_note_modals() -> None:
    assert BUTTON_KINDS == {Action.REPLY: "chat", Action.NOTE_FROM_RELAY: "note"}


def test_parse_button_round_trips_the_case_from_a_relayed_message() -> None:
    _, blocks = build_chat_message(case_id="case-guid", reference="AB12", author="A", role_label="Creditor",
                                   from_creditor=True, created=0, message="hi")
    value = blocks[-1]["elements"][0]["value"]
    ref, user, channel, trigger = parse_button(click(value))
    assert (ref.id, ref.ref, user, channel, trigger) == ("case-guid", "AB12", "U1", "C1", "123.456.abc")


@pytest.mark.parametrize("value", ["", "not json", '{"id": ""}', '{"id": "x", "evil": 1}'])
def test_parse_button_refuses_bad_values(value: str) -> None:
    with pytest.raises(BadInput):
        parse_button(click(value))


def test_parse_button_needs_a_trigger() -> None:
    with pytest.raises(BadInput):
        parse_button(click('{"id": "x"}', trigger=""))
