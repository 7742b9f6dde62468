"""Block Kit rules in messages: each limit rejected with `invalid_blocks` and Slack's json-pointer
message, and the value just inside the limit accepted (both through chat.postMessage)."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack.server import FakeSlack
from tests.fakeslack.helpers import messages, slack_error

pytestmark = pytest.mark.fakeslack


def plain(text: str, **kw: Any) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, **kw}


def mrkdwn(text: str, **kw: Any) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, **kw}


def section(text: str = "s", **kw: Any) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text), **kw}


def button(text: str = "Go", action_id: str = "go", **kw: Any) -> dict[str, Any]:
    return {"type": "button", "text": plain(text), "action_id": action_id, **kw}


def actions(*elements: dict[str, Any], block_id: str = "act") -> dict[str, Any]:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def option(text: str = "o", value: str = "v") -> dict[str, Any]:
    return {"text": plain(text), "value": value}


def select(options: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {
        "type": "static_select",
        "action_id": "pick",
        "placeholder": plain("Pick"),
        "options": options,
        **kw,
    }


def text_input(**kw: Any) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": "in",
        "label": plain("Label"),
        "element": {"type": "plain_text_input", "action_id": "t", **kw},
    }


# (case id, valid blocks, invalid blocks, the pointer Slack names for the violation, message start)
CASES: list[tuple[str, list[Any], list[Any], str, str]] = [
    (
        "50 blocks per message",
        [{"type": "divider"}] * 50,
        [{"type": "divider"}] * 51,
        "/blocks",
        "no more than 50 items allowed",
    ),
    (
        "section text 3000",
        [section("x" * 3000)],
        [section("x" * 3001)],
        "/blocks/0/text/text",
        "must be less than 3001 characters",
    ),
    (
        "section needs text or fields",
        [section()],
        [{"type": "section"}],
        "/blocks/0",
        "must provide either text or fields",
    ),
    (
        "section fields at most 10",
        [{"type": "section", "fields": [mrkdwn("f")] * 10}],
        [{"type": "section", "fields": [mrkdwn("f")] * 11}],
        "/blocks/0/fields",
        "no more than 10 items allowed",
    ),
    (
        "section field 2000",
        [{"type": "section", "fields": [mrkdwn("f" * 2000)]}],
        [{"type": "section", "fields": [mrkdwn("f" * 2001)]}],
        "/blocks/0/fields/0/text",
        "must be less than 2001 characters",
    ),
    (
        "header 150",
        [{"type": "header", "text": plain("h" * 150)}],
        [{"type": "header", "text": plain("h" * 151)}],
        "/blocks/0/text/text",
        "must be less than 151 characters",
    ),
    (
        "header is plain_text",
        [{"type": "header", "text": plain("h")}],
        [{"type": "header", "text": mrkdwn("h")}],
        "/blocks/0/text",
        "failed to match all allowed schemas",
    ),
    (
        "text object type",
        [section()],
        [{"type": "section", "text": {"type": "markdown", "text": "x"}}],
        "/blocks/0/text",
        "failed to match all allowed schemas",
    ),
    (
        "emoji only on plain_text",
        [{"type": "header", "text": plain("h", emoji=True)}],
        [{"type": "section", "text": mrkdwn("x", emoji=True)}],
        "/blocks/0/text",
        "invalid additional property: emoji",
    ),
    (
        "button text 75",
        [actions(button("b" * 75))],
        [actions(button("b" * 76))],
        "/blocks/0/elements/0/text/text",
        "must be less than 76 characters",
    ),
    (
        "button value 2000",
        [actions(button(value="v" * 2000))],
        [actions(button(value="v" * 2001))],
        "/blocks/0/elements/0/value",
        "must be less than 2001 characters",
    ),
    (
        "button url 3000",
        [actions(button(url="https://x.example/" + "a" * 2982))],
        [actions(button(url="https://x.example/" + "a" * 2983))],
        "/blocks/0/elements/0/url",
        "must be less than 3001 characters",
    ),
    (
        "button style primary or danger",
        [actions(button(style="danger"))],
        [actions(button(style="default"))],
        "/blocks/0/elements/0/style",
        "must be a valid enum value",
    ),
    (
        "button confirm object",
        [
            actions(
                button(
                    confirm={
                        "title": plain("Sure?"),
                        "text": mrkdwn("Really?"),
                        "confirm": plain("Yes"),
                        "deny": plain("No"),
                    }
                )
            )
        ],
        [actions(button(confirm={"title": plain("Sure?"), "text": mrkdwn("Really?")}))],
        "/blocks/0/elements/0/confirm",
        "missing required field: confirm",
    ),
    (
        "action_id 255",
        [actions(button(action_id="a" * 255))],
        [actions(button(action_id="a" * 256))],
        "/blocks/0/elements/0/action_id",
        "must be less than 256 characters",
    ),
    (
        "block_id 255",
        [section(block_id="b" * 255)],
        [section(block_id="b" * 256)],
        "/blocks/0/block_id",
        "must be less than 256 characters",
    ),
    (
        "duplicate block_id",
        [section(block_id="a"), section(block_id="b")],
        [section(block_id="a"), section(block_id="a")],
        "/blocks/1/block_id",
        "duplicate block_id",
    ),
    (
        "duplicate action_id in a block",
        [actions(button(action_id="a"), button(action_id="b"))],
        [actions(button(action_id="a"), button(action_id="a"))],
        "/blocks/0/elements/1/action_id",
        "duplicate action_id",
    ),
    (
        "actions at most 25 elements",
        [actions(*[button(action_id=f"b{i}") for i in range(25)])],
        [actions(*[button(action_id=f"b{i}") for i in range(26)])],
        "/blocks/0/elements",
        "no more than 25 items allowed",
    ),
    (
        "context at most 10 elements",
        [{"type": "context", "elements": [mrkdwn("c")] * 10}],
        [{"type": "context", "elements": [mrkdwn("c")] * 11}],
        "/blocks/0/elements",
        "no more than 10 items allowed",
    ),
    (
        "option text 75",
        [actions(select([option("o" * 75)]))],
        [actions(select([option("o" * 76)]))],
        "/blocks/0/elements/0/options/0/text/text",
        "must be less than 76 characters",
    ),
    (
        "option value 150",
        [actions(select([option(value="v" * 150)]))],
        [actions(select([option(value="v" * 151)]))],
        "/blocks/0/elements/0/options/0/value",
        "must be less than 151 characters",
    ),
    (
        "static_select at most 100 options",
        [actions(select([option(value=str(i)) for i in range(100)]))],
        [actions(select([option(value=str(i)) for i in range(101)]))],
        "/blocks/0/elements/0/options",
        "no more than 100 items allowed",
    ),
    (
        "initial_option among the options",
        [actions(select([option(value="a")], initial_option=option(value="a")))],
        [actions(select([option(value="a")], initial_option=option(value="b")))],
        "/blocks/0/elements/0/initial_option",
        "must match one of the provided options",
    ),
    (
        "overflow at most 5 options",
        [
            actions(
                {"type": "overflow", "action_id": "more", "options": [option(value=str(i)) for i in range(5)]}
            )
        ],
        [
            actions(
                {"type": "overflow", "action_id": "more", "options": [option(value=str(i)) for i in range(6)]}
            )
        ],
        "/blocks/0/elements/0/options",
        "no more than 5 items allowed",
    ),
    (
        "input label 2000",
        [text_input()],
        [{**text_input(), "label": plain("l" * 2001)}],
        "/blocks/0/label/text",
        "must be less than 2001 characters",
    ),
    (
        "input hint 2000",
        [{**text_input(), "hint": plain("h" * 2000)}],
        [{**text_input(), "hint": plain("h" * 2001)}],
        "/blocks/0/hint/text",
        "must be less than 2001 characters",
    ),
    (
        "plain_text_input max_length 3000",
        [text_input(max_length=3000)],
        [text_input(max_length=3001)],
        "/blocks/0/element/max_length",
        "must be at most 3000",
    ),
    (
        "plain_text_input in an input block only",
        [text_input()],
        [actions({"type": "plain_text_input", "action_id": "t"})],
        "/blocks/0/elements/0/type",
        "element type plain_text_input is not allowed here",
    ),
    (
        "datepicker initial_date",
        [actions({"type": "datepicker", "action_id": "d", "initial_date": "2026-02-28"})],
        [actions({"type": "datepicker", "action_id": "d", "initial_date": "28/02/2026"})],
        "/blocks/0/elements/0/initial_date",
        "must match regex pattern",
    ),
    (
        "datepicker real dates only",
        [actions({"type": "datepicker", "action_id": "d", "initial_date": "2024-02-29"})],
        [actions({"type": "datepicker", "action_id": "d", "initial_date": "2026-02-30"})],
        "/blocks/0/elements/0/initial_date",
        "must match regex pattern",
    ),
    (
        "timepicker initial_time",
        [actions({"type": "timepicker", "action_id": "t", "initial_time": "23:59"})],
        [actions({"type": "timepicker", "action_id": "t", "initial_time": "24:00"})],
        "/blocks/0/elements/0/initial_time",
        "must match regex pattern",
    ),
    (
        "checkboxes at most 10 options",
        [
            actions(
                {"type": "checkboxes", "action_id": "c", "options": [option(value=str(i)) for i in range(10)]}
            )
        ],
        [
            actions(
                {"type": "checkboxes", "action_id": "c", "options": [option(value=str(i)) for i in range(11)]}
            )
        ],
        "/blocks/0/elements/0/options",
        "no more than 10 items allowed",
    ),
    (
        "number_input only in modals",
        [section()],
        [
            {
                **text_input(),
                "element": {"type": "number_input", "action_id": "n", "is_decimal_allowed": False},
            }
        ],
        "/blocks/0/element/type",
        "element type number_input is only allowed in modals",
    ),
    ("unknown block type", [section()], [{"type": "carousel"}], "/blocks/0", "unsupported type: carousel"),
    (
        "unknown element type",
        [actions(button())],
        [actions({"type": "slider", "action_id": "s"})],
        "/blocks/0/elements/0",
        "unsupported type: slider",
    ),
    (
        "unknown property",
        [section()],
        [section(colour="red")],
        "/blocks/0",
        "invalid additional property: colour",
    ),
    (
        "image needs alt_text",
        [{"type": "image", "image_url": "https://x.example/a.png", "alt_text": "a"}],
        [{"type": "image", "image_url": "https://x.example/a.png"}],
        "/blocks/0",
        "missing required field: alt_text",
    ),
    (
        "markdown blocks total 12000",
        [{"type": "markdown", "text": "m" * 6000}] * 2,
        [{"type": "markdown", "text": "m" * 6000}, {"type": "markdown", "text": "m" * 6001}],
        "/blocks",
        "markdown blocks must total less than 12001 characters",
    ),
    (
        "rich_text needs elements",
        [{"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": []}]}],
        [{"type": "rich_text"}],
        "/blocks/0",
        "missing required field: elements",
    ),
]


@pytest.mark.parametrize(
    ("valid", "invalid", "pointer", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_message_block_rule(
    slack_client: AsyncWebClient,
    fake_slack: FakeSlack,
    valid: list[Any],
    invalid: list[Any],
    pointer: str,
    message: str,
) -> None:
    channel = fake_slack.workspace.add_channel("blocks")
    exc = await slack_error(slack_client.chat_postMessage(channel=channel.id, text="t", blocks=invalid))
    assert exc.response["error"] == "invalid_blocks"
    found = messages(exc)
    assert any(
        m.startswith(f"[ERROR] {message}") and m.endswith(f"[json-pointer:{pointer}]") for m in found
    ), found
    ok = await slack_client.chat_postMessage(channel=channel.id, text="t", blocks=valid)
    assert ok["ok"]
    assert fake_slack.journal.messages(channel.id)[-1].blocks == valid
