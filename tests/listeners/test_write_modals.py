"""Write modals in process (Bolt app, fake Slack, Redis): what a submission answers inside its ack."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis.asyncio as aioredis
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from blocks import forms
from blocks.ids import Action, Block, Callback
from blocks.metadata import CaseRef
from blocks.text import section
from bot.listeners import errors, modals
from bot.services import audit
from bot.store.keys import Keys
from tests.fakes.slack import payloads
from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.validation import assert_valid_view
from tests.fakes.slack.workspace import View
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
    # HOME_SETTINGS: bot.listeners.home; WORKSPACE_SETUP: bot.listeners.workspace_setup
    not_writes = {Callback.RESULT, Callback.HOME_SETTINGS, Callback.WORKSPACE_SETUP}
    assert set(TITLES) == {c for c in Callback if c not in not_writes}


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


CASE = {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "reference": "Q8OAXF3W", "lifecycle": "Active",
        "currency": "EUR", "grossAmount": 100, "remainder": 100, "debtor": {"name": "Acme"}}


def dispatch_body(payload: dict[str, Any]) -> AsyncBoltRequest:
    return AsyncBoltRequest(body=urlencode({"payload": json.dumps(payload)}))


async def test_a_note_opens_submits_once_and_shows_its_result(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    """The generic open and submit over the note flow: loading view, form, "Sending…", result, audit."""
    posted: list[dict[str, Any]] = []

    def debitura(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/cases/{CASE['id']}" and request.method == "GET":
            return httpx.Response(200, json=CASE)
        if request.url.path == f"/cases/{CASE['id']}/notes" and request.method == "POST":
            posted.append(json.loads(request.content))
            return httpx.Response(201, json={"id": "note-1", "description": posted[-1]["description"]})
        return httpx.Response(404, json={"error": None, "message": "Not found", "businessErrors": []})

    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client, handler=debitura)
    bolt = AsyncApp(client=slack_client, signing_secret="unused", request_verification_enabled=False)
    modals.register(bolt, runtime)
    ws = fake_slack.workspace
    user = ws.add_user("jane")
    channel = ws.add_channel("room", members=[user.id])

    click = {"type": "block_actions", "team": {"id": ws.TEAM_ID}, "user": {"id": user.id},
             "channel": {"id": channel.id}, "trigger_id": ws.issue_trigger(user.id),
             "actions": [{"type": "button", "action_id": Action.OPEN_NOTE, "block_id": "b",
                          "value": CaseRef(id=CASE["id"], ref="Q8OAXF3W").encode_value()}]}
    assert (await bolt.async_dispatch(dispatch_body(click))).status == 200

    def top(callback: Callback, contains: str = "") -> View | None:
        view = ws.top_view(user.id)
        ok = view is not None and view.callback_id == callback and contains in json.dumps(view.data)
        return view if ok else None

    form = await fake_slack.journal.wait_for(lambda: top(Callback.NOTE), timeout=10, what="the note form")
    assert form.data["title"]["text"] == "Add note"
    state = payloads.view_state(form, {Block.NOTE_TEXT: "Called the debtor"})
    submitted = payloads.view_submission(ws, user=user, view=form, state=state)
    for _ in range(2):  # a double click: the same view submitted twice writes once
        answer = json.loads((await bolt.async_dispatch(dispatch_body(submitted))).body)
        assert answer["response_action"] == "update"
        working = answer["view"]
        assert_valid_view(working)
        assert working["title"]["text"] == "Add note" and working["external_id"]
        ws.replace_view(form, working)  # Slack applies the ack's view
        await fake_slack.journal.wait_for(lambda: top(Callback.RESULT, "Note added to"), timeout=10,
                                          what="the result")
    assert [p["description"] for p in posted] == ["Called the debtor"]
    assert "already submitted" in json.dumps(ws.top_view(user.id).data)  # type: ignore[union-attr]
    [entry] = await audit.recent_entries(runtime)
    assert (entry["action"], entry["user"], entry["case_id"]) == ("note", user.id, CASE["id"])
