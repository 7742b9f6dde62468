"""Write modals in process (Bolt app, fake Slack, Redis): what a submission answers inside its ack."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
import redis.asyncio as aioredis
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from blocks import forms
from blocks.ids import Callback
from blocks.text import section
from bot.listeners import errors, modals
from bot.store.keys import Keys
from tests.fakes.slack import payloads
from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.validation import assert_valid_view
from tests.services.helpers import make_runtime

TITLES = {
    Callback.NOTE: "Add note",
    Callback.PICK_CASE: "Add note",
    Callback.PAYMENT: "Record payment",
    Callback.PAYMENT_EDIT: "Edit payment",
    Callback.PAYMENT_DELETE: "Delete payment",
    Callback.CHAT: "Send chat",
    Callback.UPLOAD: "Upload file",
    Callback.CLOSE: "Close case",
    Callback.ACTIVATE: "Activate case",
    Callback.FEES: "Update fees",
    Callback.FEES_CONFIRM: "Update fees",
}
"""The title of each write: its "Sending…", result and error views all carry it."""


@pytest.fixture
def app(fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys) -> AsyncApp:
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client)
    bolt = AsyncApp(client=slack_client, signing_secret="unused", request_verification_enabled=False,
                    process_before_response=True)
    errors.register(bolt, runtime)
    modals.register(bolt, runtime)
    return bolt


def test_every_submitted_callback_has_a_title() -> None:
    assert set(TITLES) == {c for c in Callback if c is not Callback.RESULT}


@pytest.mark.parametrize("callback", list(TITLES))
async def test_a_form_from_an_older_release_answers_with_the_write_title(
    app: AsyncApp, fake_slack: FakeSlack, callback: Callback
) -> None:
    ws = fake_slack.workspace
    user = ws.add_user("jane")
    view = forms.modal(callback, "Old form", [section("An old form")], submit="Send")
    view["private_metadata"] = json.dumps({"kind": "note", "from_an_older_release": True})
    opened = ws.open_modal(user.id, view)
    payload = payloads.view_submission(ws, user=user, view=opened, state={"values": {}})
    response = await app.async_dispatch(AsyncBoltRequest(body=urlencode({"payload": json.dumps(payload)})))
    assert response.status == 200
    answer = json.loads(response.body)
    assert answer["response_action"] == "update"
    shown = answer["view"]
    assert_valid_view(shown)
    assert "older version of Caseroom" in json.dumps(shown) and "Error id" in json.dumps(shown)
    assert shown["title"]["text"] == TITLES[callback]
