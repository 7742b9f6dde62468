"""Every write-side id (open buttons, payment buttons, dispatch actions, callbacks, the shortcut) has a
listener: registered by `bot.listeners.modals.register`, or for a modal of another area (App Home's
settings) by that area's module."""

from __future__ import annotations

from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from blocks.ids import Action, Callback, Shortcut
from bot.listeners import home, modals

WRITE_ACTIONS = [
    *modals.OPEN_ACTIONS,
    Action.EDIT_PAYMENT,
    Action.DELETE_PAYMENT,
    Action.PAYMENT_AMOUNT_CHANGED,
    Action.RECIPIENT_CHANGED,
]
# The result view has no submit button; App Home's settings (bot.listeners.home) and the workspace setup
# (bot.listeners.workspace_setup) are submitted to their own modules.
NOT_WRITES = {Callback.RESULT, Callback.HOME_SETTINGS, Callback.WORKSPACE_SETUP}
SUBMITTED = [c for c in Callback if c not in NOT_WRITES]


def body_for(kind: str, ident: str) -> dict[str, Any]:
    base: dict[str, Any] = {"team": {"id": "T1"}, "user": {"id": "U1", "team_id": "T1"}, "api_app_id": "A1"}
    if kind == "block_actions":
        return {**base, "type": kind, "actions": [{"action_id": ident, "block_id": "b", "type": "button"}]}
    if kind in ("view_submission", "view_closed"):
        return {**base, "type": kind, "view": {"id": "V1", "callback_id": ident, "type": "modal"}}
    return {**base, "type": "message_action", "callback_id": ident, "trigger_id": "t"}


@pytest.fixture
def app() -> AsyncApp:
    app = AsyncApp(token="xoxb-test", signing_secret="secret", request_verification_enabled=False)
    for module in (modals, home):
        module.register(app, runtime=None)  # type: ignore[arg-type]  # only used inside the listeners
    return app


async def matched(app: AsyncApp, body: dict[str, Any]) -> bool:
    request = AsyncBoltRequest(body=body, mode="socket_mode")
    for listener in app._async_listeners:
        if await listener.async_matches(req=request, resp=BoltResponse(status=200)):
            return True
    return False


@pytest.mark.parametrize("action_id", WRITE_ACTIONS)
async def test_listener_for_each_write_action(app: AsyncApp, action_id: Action) -> None:
    assert await matched(app, body_for("block_actions", action_id))


@pytest.mark.parametrize("callback_id", SUBMITTED)
async def test_listener_for_each_submitted_callback(app: AsyncApp, callback_id: Callback) -> None:
    assert await matched(app, body_for("view_submission", callback_id))


@pytest.mark.parametrize("callback_id", list(Callback))
async def test_listener_for_each_closed_callback(app: AsyncApp, callback_id: Callback) -> None:
    assert await matched(app, body_for("view_closed", callback_id))


async def test_listener_for_the_message_shortcut(app: AsyncApp) -> None:
    assert await matched(app, body_for("message_action", Shortcut.NOTE_FROM_MESSAGE))


async def test_unknown_ids_are_not_matched(app: AsyncApp) -> None:
    assert not await matched(app, body_for("block_actions", "someone_elses_button"))
    assert not await matched(app, body_for("view_submission", "someone_elses_modal"))
