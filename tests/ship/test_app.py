"""bot.app: metric labels never carry user text; request kinds; outcome labels."""

from __future__ import annotations

from slack_bolt import BoltResponse

from blocks.ids import Action, Callback, Shortcut
from bot.app import action_label, command_label, outcome_label, record_request, request_kind
from bot.metrics import Metrics


def test_app_command_label_is_a_known_word_or_lookup() -> None:
    assert command_label({"text": ""}) == "help"
    assert command_label({"text": "LIST active"}) == "list"
    assert command_label({"text": "Q8OAXF3W"}) == "lookup"
    assert command_label({"text": "Jane Roe owes money"}) == "lookup"  # never a debtor's name


def test_app_action_label_only_for_our_ids() -> None:
    block = {"type": "block_actions", "actions": [{"action_id": Action.OPEN_NOTE.value}]}
    assert action_label(block) == Action.OPEN_NOTE.value
    assert action_label({"type": "block_actions", "actions": [{"action_id": "jane-roe"}]}) == "other"
    view = {"type": "view_submission", "view": {"callback_id": Callback.PAYMENT.value}}
    assert action_label(view) == Callback.PAYMENT.value
    shortcut = {"type": "message_action", "callback_id": Shortcut.NOTE_FROM_MESSAGE.value}
    assert action_label(shortcut) == Shortcut.NOTE_FROM_MESSAGE.value


def test_app_request_kind_and_outcome() -> None:
    assert request_kind({"command": "/case", "text": ""}) == "command"
    assert request_kind({"type": "event_callback"}) == "event_callback"
    assert request_kind({}) == "unknown"
    assert outcome_label(BoltResponse(status=200, body="")) == "ok"
    assert outcome_label(BoltResponse(status=404, body="")) == "unhandled"
    assert outcome_label(BoltResponse(status=401, body="")) == "error"
    assert outcome_label(None) == "error"


def test_app_record_request_counts_commands_actions_and_latency() -> None:
    metrics = Metrics()
    ok = BoltResponse(status=200, body="")
    record_request(metrics, {"command": "/case", "text": "pay Q8OAXF3W"}, ok, 0.02)
    click = {"type": "block_actions", "actions": [{"action_id": Action.FOLLOW.value}]}
    record_request(metrics, click, ok, 0.01)
    record_request(metrics, {"type": "event_callback", "event": {"type": "tokens_revoked"}}, ok, 0.001)
    text = metrics.render().decode()
    assert 'caseroom_commands_total{outcome="ok",subcommand="pay"} 1.0' in text
    follow = f'caseroom_actions_total{{id="{Action.FOLLOW.value}",kind="block_actions",outcome="ok"}} 1.0'
    assert follow in text
    assert 'caseroom_ack_seconds_count{kind="event_callback"} 1.0' in text
    assert "event_callback" not in text.split("caseroom_actions_total", 1)[1].split("# HELP", 1)[0]
