"""views.*: trigger_id lifetime and single use, modal limits, the view stack, hash races, Home tabs."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.workspace import User
from tests.fakeslack.helpers import error_code, messages, present, slack_error

pytestmark = pytest.mark.fakeslack


def plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def modal(**overrides: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": "case_note_modal",
        "title": plain("Add a note"),
        "submit": plain("Save"),
        "close": plain("Cancel"),
        "private_metadata": '{"case_id": "c-1"}',
        "blocks": [
            {
                "type": "input",
                "block_id": "note_text",
                "label": plain("Note"),
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
            }
        ],
    }
    view.update(overrides)
    return {k: v for k, v in view.items() if v is not None}


@pytest.fixture
def alice(fake_slack: FakeSlack) -> User:
    return fake_slack.workspace.add_user("alice")


async def test_views_open_with_a_fresh_trigger(
    slack_client: AsyncWebClient, fake_slack: FakeSlack, alice: User
) -> None:
    trigger = fake_slack.workspace.issue_trigger(alice.id)
    resp = await slack_client.views_open(trigger_id=trigger, view=modal())
    view = resp["view"]
    assert view["id"].startswith("V") and view["hash"] and view["private_metadata"] == '{"case_id": "c-1"}'
    assert present(fake_slack.journal.view_for(alice.id))["id"] == view["id"]


async def test_trigger_expires_after_3_seconds(
    slack_client: AsyncWebClient, fake_slack: FakeSlack, alice: User
) -> None:
    trigger = fake_slack.workspace.issue_trigger(alice.id)
    fake_slack.clock.advance(3.01)
    assert await error_code(slack_client.views_open(trigger_id=trigger, view=modal())) == "expired_trigger_id"
    fresh = fake_slack.workspace.issue_trigger(alice.id)
    fake_slack.clock.advance(2.9)
    assert (await slack_client.views_open(trigger_id=fresh, view=modal()))["ok"]


async def test_trigger_is_single_use(
    slack_client: AsyncWebClient, fake_slack: FakeSlack, alice: User
) -> None:
    trigger = fake_slack.workspace.issue_trigger(alice.id)
    await slack_client.views_open(trigger_id=trigger, view=modal())
    assert (
        await error_code(slack_client.views_open(trigger_id=trigger, view=modal())) == "exchanged_trigger_id"
    )
    assert (
        await error_code(slack_client.views_push(trigger_id=trigger, view=modal())) == "exchanged_trigger_id"
    )


async def test_unknown_trigger(slack_client: AsyncWebClient) -> None:
    assert (
        await error_code(slack_client.views_open(trigger_id="1.2.made-up", view=modal()))
        == "invalid_trigger_id"
    )


MODAL_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    (
        "title 24",
        modal(title=plain("t" * 24)),
        modal(title=plain("t" * 25)),
        "/view/title/text",
        "must be less than 25 characters",
    ),
    ("title required", modal(), modal(title=None), "/view", "missing required field: title"),
    (
        "title plain_text",
        modal(),
        modal(title={"type": "mrkdwn", "text": "t"}),
        "/view/title",
        "failed to match all allowed schemas",
    ),
    (
        "submit 24",
        modal(submit=plain("s" * 24)),
        modal(submit=plain("s" * 25)),
        "/view/submit/text",
        "must be less than 25 characters",
    ),
    (
        "close 24",
        modal(close=plain("c" * 24)),
        modal(close=plain("c" * 25)),
        "/view/close/text",
        "must be less than 25 characters",
    ),
    (
        "private_metadata 3000",
        modal(private_metadata="m" * 3000),
        modal(private_metadata="m" * 3001),
        "/view/private_metadata",
        "must be less than 3001 characters",
    ),
    (
        "callback_id 255",
        modal(callback_id="c" * 255),
        modal(callback_id="c" * 256),
        "/view/callback_id",
        "must be less than 256 characters",
    ),
    (
        "input blocks need submit",
        modal(submit=None, blocks=[{"type": "divider"}]),
        modal(submit=None),
        "/view",
        "must provide a submit property when using input blocks",
    ),
    (
        "100 blocks per view",
        modal(submit=None, blocks=[{"type": "divider"}] * 100),
        modal(submit=None, blocks=[{"type": "divider"}] * 101),
        "/view/blocks",
        "no more than 100 items allowed",
    ),
    (
        "number_input needs is_decimal_allowed",
        modal(
            blocks=[
                {
                    "type": "input",
                    "block_id": "amount",
                    "label": plain("Amount"),
                    "element": {
                        "type": "number_input",
                        "action_id": "v",
                        "is_decimal_allowed": True,
                        "min_value": "0.01",
                    },
                }
            ]
        ),
        modal(
            blocks=[
                {
                    "type": "input",
                    "block_id": "amount",
                    "label": plain("Amount"),
                    "element": {"type": "number_input", "action_id": "v"},
                }
            ]
        ),
        "/view/blocks/0/element",
        "missing required field: is_decimal_allowed",
    ),
    (
        "number_input values are strings",
        modal(
            blocks=[
                {
                    "type": "input",
                    "block_id": "amount",
                    "label": plain("Amount"),
                    "element": {
                        "type": "number_input",
                        "action_id": "v",
                        "is_decimal_allowed": False,
                        "initial_value": "12",
                    },
                }
            ]
        ),
        modal(
            blocks=[
                {
                    "type": "input",
                    "block_id": "amount",
                    "label": plain("Amount"),
                    "element": {
                        "type": "number_input",
                        "action_id": "v",
                        "is_decimal_allowed": False,
                        "initial_value": 12,
                    },
                }
            ]
        ),
        "/view/blocks/0/element/initial_value",
        "must be a string holding a number",
    ),
    (
        "file_input max_files 10",
        modal(
            blocks=[
                {
                    "type": "input",
                    "block_id": "f",
                    "label": plain("File"),
                    "element": {"type": "file_input", "action_id": "v", "max_files": 10},
                }
            ]
        ),
        modal(
            blocks=[
                {
                    "type": "input",
                    "block_id": "f",
                    "label": plain("File"),
                    "element": {"type": "file_input", "action_id": "v", "max_files": 11},
                }
            ]
        ),
        "/view/blocks/0/element/max_files",
        "must be at most 10",
    ),
    ("view type", modal(), modal(type="sheet"), "/view/type", "must be a valid enum value"),
]


@pytest.mark.parametrize(
    ("valid", "invalid", "pointer", "message"), [c[1:] for c in MODAL_CASES], ids=[c[0] for c in MODAL_CASES]
)
async def test_modal_rule(
    slack_client: AsyncWebClient,
    fake_slack: FakeSlack,
    alice: User,
    valid: dict[str, Any],
    invalid: dict[str, Any],
    pointer: str,
    message: str,
) -> None:
    exc = await slack_error(
        slack_client.views_open(trigger_id=fake_slack.workspace.issue_trigger(alice.id), view=invalid)
    )
    assert exc.response["error"] == "invalid_arguments"
    found = messages(exc)
    assert any(
        m.startswith(f"[ERROR] {message}") and m.endswith(f"[json-pointer:{pointer}]") for m in found
    ), found
    ok = await slack_client.views_open(trigger_id=fake_slack.workspace.issue_trigger(alice.id), view=valid)
    assert ok["ok"]


async def test_an_invalid_view_does_not_use_up_the_trigger(
    slack_client: AsyncWebClient, fake_slack: FakeSlack, alice: User
) -> None:
    trigger = fake_slack.workspace.issue_trigger(alice.id)
    await error_code(slack_client.views_open(trigger_id=trigger, view=modal(title=plain("t" * 30))))
    assert (await slack_client.views_open(trigger_id=trigger, view=modal()))["ok"]


async def test_view_too_large(slack_client: AsyncWebClient, fake_slack: FakeSlack, alice: User) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2990}}] * 90
    trigger = fake_slack.workspace.issue_trigger(alice.id)
    assert (
        await error_code(slack_client.views_open(trigger_id=trigger, view=modal(submit=None, blocks=blocks)))
        == "view_too_large"
    )


async def test_stack_holds_three_views(
    slack_client: AsyncWebClient, fake_slack: FakeSlack, alice: User
) -> None:
    ws = fake_slack.workspace
    root = (await slack_client.views_open(trigger_id=ws.issue_trigger(alice.id), view=modal()))["view"]
    second = (await slack_client.views_push(trigger_id=ws.issue_trigger(alice.id), view=modal()))["view"]
    third = (await slack_client.views_push(trigger_id=ws.issue_trigger(alice.id), view=modal()))["view"]
    assert second["root_view_id"] == root["id"] and third["previous_view_id"] == second["id"]
    assert (
        await error_code(slack_client.views_push(trigger_id=ws.issue_trigger(alice.id), view=modal()))
        == "push_limit_reached"
    )
    assert present(fake_slack.journal.view_for(alice.id))["id"] == third["id"]


async def test_update_by_id_or_external_id_with_hash(
    slack_client: AsyncWebClient, fake_slack: FakeSlack, alice: User
) -> None:
    trigger = fake_slack.workspace.issue_trigger(alice.id)
    opened = (await slack_client.views_open(trigger_id=trigger, view=modal(external_id="note-c-1")))["view"]
    updated = (
        await slack_client.views_update(
            view_id=opened["id"],
            hash=opened["hash"],
            view=modal(title=plain("Saving…"), external_id="note-c-1"),
        )
    )["view"]
    assert updated["hash"] != opened["hash"]
    assert (
        await error_code(slack_client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal()))
        == "hash_conflict"
    )
    by_external = await slack_client.views_update(
        external_id="note-c-1", view=modal(title=plain("Saved"), external_id="note-c-1")
    )
    assert by_external["view"]["title"]["text"] == "Saved"
    assert await error_code(slack_client.views_update(view_id="V_GONE", view=modal())) == "not_found"
    assert (
        await error_code(slack_client.views_update(view_id=opened["id"], view=modal(title=plain("x" * 25))))
        == "invalid_arguments"
    )


async def test_external_id_is_unique(
    slack_client: AsyncWebClient, fake_slack: FakeSlack, alice: User
) -> None:
    ws = fake_slack.workspace
    await slack_client.views_open(trigger_id=ws.issue_trigger(alice.id), view=modal(external_id="e1"))
    assert (
        await error_code(
            slack_client.views_open(trigger_id=ws.issue_trigger(alice.id), view=modal(external_id="e1"))
        )
        == "duplicate_external_id"
    )


async def test_publish_home_tab(slack_client: AsyncWebClient, fake_slack: FakeSlack, alice: User) -> None:
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Your cases"}}]}
    first = (await slack_client.views_publish(user_id=alice.id, view=home))["view"]
    assert (
        await error_code(slack_client.views_publish(user_id=alice.id, view=home, hash="stale"))
        == "hash_conflict"
    )
    second = (await slack_client.views_publish(user_id=alice.id, view=home, hash=first["hash"]))["view"]
    assert second["id"] == first["id"]
    assert present(fake_slack.journal.home_for(alice.id))["hash"] == second["hash"]
    assert await error_code(slack_client.views_publish(user_id="U_GHOST", view=home)) == "user_not_found"
    assert await error_code(slack_client.views_publish(user_id="", view=home)) == "invalid_arguments"
    too_many = {"type": "home", "blocks": [{"type": "divider"}] * 101}
    refused = await error_code(slack_client.views_publish(user_id=alice.id, view=too_many))
    assert refused == "invalid_arguments"
    assert await error_code(slack_client.views_publish(user_id=alice.id, view=modal())) == "invalid_arguments"
    trigger = fake_slack.workspace.issue_trigger(alice.id)
    assert await error_code(slack_client.views_open(trigger_id=trigger, view=home)) == "invalid_arguments"
