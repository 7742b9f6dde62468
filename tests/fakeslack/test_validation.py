"""The validation functions blocks/ unit tests import: every element type the bot uses, in the
places Slack allows it, and the helpers' error reporting."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.slack.validation import (
    BlockKitError,
    assert_valid_message,
    assert_valid_view,
    validate_blocks,
    validate_message,
    validate_view,
)

pytestmark = pytest.mark.fakeslack


def plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def opt(value: str, text: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"text": text or plain(value.title()), "value": value}


def inp(element: dict[str, Any], block_id: str = "b") -> dict[str, Any]:
    return {"type": "input", "block_id": block_id, "label": plain("Label"), "element": element}


VALID_MODAL_BLOCKS: list[dict[str, Any]] = [
    inp(
        {
            "type": "radio_buttons",
            "action_id": "a",
            "options": [opt("x"), opt("y")],
            "initial_option": opt("y"),
        }
    ),
    inp(
        {
            "type": "checkboxes",
            "action_id": "a",
            "options": [opt("x", {"type": "mrkdwn", "text": "*X*"})],
            "initial_options": [opt("x", {"type": "mrkdwn", "text": "*X*"})],
        }
    ),
    inp(
        {
            "type": "multi_static_select",
            "action_id": "a",
            "options": [opt("x"), opt("y")],
            "initial_options": [opt("x")],
            "max_selected_items": 2,
        }
    ),
    inp(
        {
            "type": "static_select",
            "action_id": "a",
            "option_groups": [{"label": plain("Group"), "options": [opt("x")]}],
        }
    ),
    inp({"type": "external_select", "action_id": "a", "min_query_length": 2, "initial_option": opt("x")}),
    inp({"type": "users_select", "action_id": "a", "initial_user": "U1"}),
    inp({"type": "multi_users_select", "action_id": "a", "initial_users": ["U1"]}),
    inp(
        {
            "type": "conversations_select",
            "action_id": "a",
            "default_to_current_conversation": True,
            "response_url_enabled": True,
            "filter": {"include": ["private"], "exclude_bot_users": True},
        }
    ),
    inp({"type": "multi_conversations_select", "action_id": "a", "initial_conversations": ["C1"]}),
    inp({"type": "channels_select", "action_id": "a"}),
    inp(
        {
            "type": "number_input",
            "action_id": "a",
            "is_decimal_allowed": True,
            "min_value": "0.01",
            "max_value": "1000000",
            "initial_value": "12.50",
        }
    ),
    inp(
        {
            "type": "plain_text_input",
            "action_id": "a",
            "multiline": True,
            "min_length": 1,
            "max_length": 3000,
            "dispatch_action_config": {"trigger_actions_on": ["on_character_entered"]},
        }
    ),
    inp({"type": "file_input", "action_id": "a", "filetypes": ["pdf", "png"], "max_files": 1}),
    inp({"type": "datepicker", "action_id": "a", "initial_date": "2026-11-26"}),
    inp({"type": "timepicker", "action_id": "a", "initial_time": "09:30", "timezone": "Europe/Copenhagen"}),
    {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "More", "verbatim": True},
        "accessory": {
            "type": "overflow",
            "action_id": "o",
            "options": [{"text": plain("Open"), "value": "open", "url": "https://x.example"}],
        },
    },
    {
        "type": "section",
        "text": plain("Pic"),
        "accessory": {"type": "image", "image_url": "https://x.example/a.png", "alt_text": "a"},
    },
    {
        "type": "context",
        "elements": [
            {"type": "image", "image_url": "https://x.example/a.png", "alt_text": "a"},
            {"type": "mrkdwn", "text": "note"},
        ],
    },
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": plain("Open"),
                "action_id": "open",
                "url": "https://x.example",
                "style": "primary",
            }
        ],
    },
]


def test_every_element_the_bot_uses_is_accepted_in_a_modal() -> None:
    blocks = [{**b, "block_id": f"b{i}"} for i, b in enumerate(VALID_MODAL_BLOCKS)]
    assert validate_blocks(blocks, "modal") == []


@pytest.mark.parametrize(
    ("block", "pointer", "message"),
    [
        (
            inp({"type": "radio_buttons", "action_id": "a", "options": [opt(str(i)) for i in range(11)]}),
            "/blocks/0/element/options",
            "no more than 10 items allowed",
        ),
        (
            inp(
                {
                    "type": "multi_static_select",
                    "action_id": "a",
                    "options": [opt("x")],
                    "initial_options": [opt("z")],
                }
            ),
            "/blocks/0/element/initial_options/0",
            "must match one of the provided options",
        ),
        (
            inp(
                {
                    "type": "static_select",
                    "action_id": "a",
                    "options": [opt("x")],
                    "option_groups": [{"label": plain("G"), "options": [opt("y")]}],
                }
            ),
            "/blocks/0/element",
            "must provide exactly one of options or option_groups",
        ),
        (
            inp(
                {
                    "type": "static_select",
                    "action_id": "a",
                    "options": [opt("x", {"type": "mrkdwn", "text": "x"})],
                }
            ),
            "/blocks/0/element/options/0/text",
            "failed to match all allowed schemas",
        ),
        (
            inp(
                {"type": "conversations_select", "action_id": "a", "filter": {"include": ["im"], "colour": 1}}
            ),
            "/blocks/0/element/filter",
            "invalid additional property: colour",
        ),
        (
            inp({"type": "number_input", "action_id": "a", "is_decimal_allowed": False, "min_value": "1.5"}),
            "/blocks/0/element/min_value",
            "must be a string holding a number without decimals",
        ),
        (
            inp(
                {
                    "type": "number_input",
                    "action_id": "a",
                    "is_decimal_allowed": True,
                    "min_value": "10",
                    "max_value": "1",
                }
            ),
            "/blocks/0/element/min_value",
            "min_value must not be greater than max_value",
        ),
        (
            inp({"type": "plain_text_input", "action_id": "a", "min_length": 10, "max_length": 5}),
            "/blocks/0/element/min_length",
            "min_length must not be greater than max_length",
        ),
        (
            inp(
                {
                    "type": "plain_text_input",
                    "action_id": "a",
                    "dispatch_action_config": {"trigger_actions_on": ["on_blur"]},
                }
            ),
            "/blocks/0/element/dispatch_action_config/trigger_actions_on/0",
            "must be a valid enum value",
        ),
        (
            inp({"type": "file_input", "action_id": "a", "filetypes": "pdf"}),
            "/blocks/0/element/filetypes",
            "must provide an array of strings",
        ),
        (
            inp({"type": "button", "action_id": "a", "text": plain("x")}),
            "/blocks/0/element/type",
            "element type button is not allowed here",
        ),
        (
            {"type": "context", "elements": [{"type": "button", "text": plain("x")}]},
            "/blocks/0/elements/0",
            "failed to match all allowed schemas",
        ),
        (
            {
                "type": "section",
                "text": plain("x"),
                "accessory": {"type": "overflow", "action_id": "o", "options": []},
            },
            "/blocks/0/accessory/options",
            "must provide at least 1 items",
        ),
        (
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": plain("x"),
                        "action_id": "a",
                        "confirm": {
                            "title": plain("T"),
                            "text": plain("t"),
                            "confirm": plain("Y"),
                            "deny": plain("N"),
                            "style": "default",
                        },
                    }
                ],
            },
            "/blocks/0/elements/0/confirm/style",
            "must be a valid enum value",
        ),
        ({"type": "input", "label": plain("x")}, "/blocks/0", "missing required field: element"),
        (
            {"type": "section", "text": {"type": "mrkdwn", "text": ""}},
            "/blocks/0/text/text",
            "must be more than 0 characters",
        ),
        ("not a block", "/blocks/0", "must provide an object"),
    ],
)
def test_modal_block_errors(block: Any, pointer: str, message: str) -> None:
    errors = validate_blocks([block], "modal")
    assert f"{message} [json-pointer:{pointer}]" in errors, errors


def test_home_tab_has_no_submit_or_title_rules_of_modals() -> None:
    assert validate_view({"type": "home", "blocks": [{"type": "divider"}]}) == []
    errors = validate_view({"type": "home", "blocks": [], "submit": plain("x")})
    assert errors == ["invalid additional property: submit [json-pointer:/view]"]


def test_attachment_blocks_are_checked_too() -> None:
    errors = validate_message({"attachments": [{"blocks": [{"type": "header", "text": plain("h" * 151)}]}]})
    assert errors == ["must be less than 151 characters [json-pointer:/attachments/0/blocks/0/text/text]"]


def test_assert_helpers_raise_with_every_error() -> None:
    message = {"blocks": [{"type": "section"}, {"type": "nope"}]}
    with pytest.raises(BlockKitError) as info:
        assert_valid_message(message)
    assert info.value.errors == validate_message(message)
    assert len(info.value.errors) == 2
    assert "json-pointer:/blocks/1" in str(info.value)
    with pytest.raises(BlockKitError):
        assert_valid_view({"type": "modal", "title": plain("x" * 25), "blocks": []})
    assert_valid_view({"type": "modal", "title": plain("ok"), "blocks": []})
    assert_valid_message({"blocks": [{"type": "divider"}]})
