"""The driver and the fake against a real slack_bolt AsyncApp, over HTTP and over Socket Mode:
command acks, respond() through the response_url, modals opened with the command's trigger_id,
submissions with response_action errors/update/none, clicks, message shortcuts and events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack.driver import Driver, http_driver, socket_driver
from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.workspace import Channel, User
from tests.fakeslack.helpers import present

pytestmark = pytest.mark.fakeslack

NOTE_MODAL = {
    "type": "modal",
    "callback_id": "note",
    "title": {"type": "plain_text", "text": "Add a note"},
    "submit": {"type": "plain_text", "text": "Save"},
    "notify_on_close": True,
    "blocks": [
        {
            "type": "input",
            "block_id": "text",
            "label": {"type": "plain_text", "text": "Note"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        },
        {
            "type": "input",
            "block_id": "kind",
            "label": {"type": "plain_text", "text": "Kind"},
            "element": {
                "type": "static_select",
                "action_id": "value",
                "options": [
                    {"text": {"type": "plain_text", "text": "Call"}, "value": "call"},
                    {"text": {"type": "plain_text", "text": "Letter"}, "value": "letter"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "when",
            "optional": True,
            "label": {"type": "plain_text", "text": "When"},
            "element": {"type": "datepicker", "action_id": "value"},
        },
    ],
}


def build_app(fake: FakeSlack, seen: list[Any]) -> AsyncApp:
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
    app = AsyncApp(client=client, signing_secret=fake.signing_secret)

    @app.command("/case")
    async def on_case(ack: Any, respond: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
        if command["text"] == "note":
            await ack()
            await client.views_open(trigger_id=command["trigger_id"], view=NOTE_MODAL)
            return
        await ack("looking it up")
        await respond(
            text=f"case {command['text']}",
            blocks=[
                {
                    "type": "actions",
                    "block_id": "card",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "refresh",
                            "text": {"type": "plain_text", "text": "Refresh"},
                            "value": command["text"],
                        }
                    ],
                }
            ],
        )

    @app.action("refresh")
    async def on_refresh(ack: Any, respond: Any, body: dict[str, Any]) -> None:
        await ack()
        seen.append(("refresh", body["actions"][0]["value"]))
        await respond(text="refreshed", replace_original=True)

    @app.view("note")
    async def on_note(ack: Any, view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        text = values["text"]["value"]["value"]
        seen.append(
            (
                "note",
                text,
                values["kind"]["value"]["selected_option"]["value"],
                values["when"]["value"]["selected_date"],
            )
        )
        if text == "bad":
            await ack(response_action="errors", errors={"text": "Write something useful"})
        elif text == "again":
            await ack(
                response_action="update",
                view={**NOTE_MODAL, "title": {"type": "plain_text", "text": "Saved"}},
            )
        else:
            await ack()

    @app.view_closed("note")
    async def on_closed(ack: Any) -> None:
        await ack()
        seen.append(("closed",))

    @app.shortcut("note_from_message")
    async def on_shortcut(ack: Any, shortcut: dict[str, Any]) -> None:
        await ack()
        seen.append(("shortcut", shortcut["message"]["text"]))

    @app.event("message")
    async def on_message(event: dict[str, Any]) -> None:
        seen.append(("message", event["text"]))

    return app


@pytest.fixture(params=["http", "socket"])
async def bolt(
    request: pytest.FixtureRequest, fake_slack: FakeSlack
) -> AsyncIterator[tuple[Driver, list[Any]]]:
    seen: list[Any] = []
    app = build_app(fake_slack, seen)
    if request.param == "http":
        server = AsyncSlackAppServer(port=0, path="/slack/events", app=app, host="127.0.0.1")
        runner = web.AppRunner(server.web_app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield http_driver(fake_slack, f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"), seen
        await runner.cleanup()
    else:
        handler = AsyncSocketModeHandler(app, fake_slack.app_token)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        await fake_slack.socket.wait_connected()
        yield socket_driver(fake_slack), seen
        await handler.close_async()  # type: ignore[no-untyped-call]


@pytest.fixture
def alice(fake_slack: FakeSlack) -> User:
    return fake_slack.workspace.add_user("alice")


@pytest.fixture
def room(fake_slack: FakeSlack, alice: User) -> Channel:
    return fake_slack.workspace.add_channel("case-1", members=[alice.id])


async def test_command_ack_then_respond_then_click(
    bolt: tuple[Driver, list[Any]], fake_slack: FakeSlack, alice: User, room: Channel
) -> None:
    driver, seen = bolt
    ack = await driver.command("/case", "Q8", user=alice.id, channel=room.id)
    assert ack.ok and ack.text == "looking it up"
    journal = fake_slack.journal
    posts = await journal.wait_for(lambda: journal.responses(ack.response_url))
    assert posts[0].text == "case Q8" and posts[0].ephemeral
    # the reply is an ephemeral message only alice sees; she clicks its button
    ephemeral_ts = posts[0].message_ts
    assert ephemeral_ts is not None and journal.messages(room.id) == []
    with pytest.raises(ValueError, match="can see"):
        await driver.click(
            "refresh", user=fake_slack.workspace.add_user("bob").id, channel=room.id, message_ts=ephemeral_ts
        )
    click = await driver.click("refresh", user=alice.id, channel=room.id, message_ts=ephemeral_ts)
    assert click.ok
    ephemeral = fake_slack.workspace.ephemerals[ephemeral_ts]
    await journal.wait_for(lambda: ephemeral.text == "refreshed", what="replace_original on the ephemeral")
    assert ("refresh", "Q8") in seen


async def test_modal_round_trip(
    bolt: tuple[Driver, list[Any]], fake_slack: FakeSlack, alice: User, room: Channel
) -> None:
    driver, seen = bolt
    journal = fake_slack.journal
    ack = await driver.command("/case", "note", user=alice.id, channel=room.id)
    assert ack.ok
    view = await journal.wait_for(lambda: journal.view_for(alice.id), what="the note modal")
    assert view["callback_id"] == "note"
    with pytest.raises(ValueError, match="required"):
        await driver.submit_view(user=alice.id, values={"kind": "call"})
    with pytest.raises(ValueError, match="no option"):
        await driver.submit_view(user=alice.id, values={"text": "x", "kind": "visit"})

    refused = await driver.submit_view(user=alice.id, values={"text": "bad", "kind": "call"})
    assert refused.response_action == "errors" and refused.errors == {"text": "Write something useful"}
    assert journal.view_for(alice.id) is not None  # still open

    updated = await driver.submit_view(
        user=alice.id, values={"text": "again", "kind": "letter", "when": "2026-11-20"}
    )
    assert updated.response_action == "update"
    assert present(journal.view_for(alice.id))["title"]["text"] == "Saved"

    done = await driver.submit_view(user=alice.id, values={"text": "called debtor", "kind": "call"})
    assert done.ok and done.response_action is None
    assert journal.view_for(alice.id) is None  # closed
    assert ("note", "called debtor", "call", None) in seen
    assert ("note", "again", "letter", "2026-11-20") in seen


async def test_view_closed_is_sent_when_asked_for(
    bolt: tuple[Driver, list[Any]], fake_slack: FakeSlack, alice: User, room: Channel
) -> None:
    driver, seen = bolt
    await driver.command("/case", "note", user=alice.id, channel=room.id)
    await fake_slack.journal.wait_for(lambda: fake_slack.journal.view_for(alice.id))
    ack = await driver.close_view(user=alice.id)
    assert ack is not None and ack.ok
    assert ("closed",) in seen


async def test_message_shortcut_and_message_event(
    bolt: tuple[Driver, list[Any]], fake_slack: FakeSlack, alice: User, room: Channel
) -> None:
    driver, seen = bolt
    message, ack = await driver.user_message("debtor called back", user=alice.id, channel=room.id)
    assert ack.ok
    await fake_slack.journal.wait_for(lambda: ("message", "debtor called back") in seen)
    short = await driver.message_shortcut(
        "note_from_message", user=alice.id, channel=room.id, message_ts=message.ts
    )
    assert short.ok
    assert ("shortcut", "debtor called back") in seen
