"""manifest.yml against the code: ids, the command, listeners on a built app, and least-privilege scopes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml
from slack_bolt import BoltResponse
from slack_bolt.request.async_request import AsyncBoltRequest

from blocks.ids import Action, Callback, Shortcut
from bot.app import CaseroomApp, build_app
from bot.check import REQUIRED_SCOPES
from bot.config import Settings, load_settings
from bot.runtime import build_runtime
from tests.ship.conftest import REPO

RAW = (REPO / "manifest.yml").read_text(encoding="utf-8")
MANIFEST: dict[str, Any] = yaml.safe_load(RAW)

# Web API method -> the bot scopes that allow it (any one of them suffices; both channel kinds are used).
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "chat_postMessage": ("chat:write",), "chat_update": ("chat:write",), "chat_delete": ("chat:write",),
    "chat_postEphemeral": ("chat:write",), "chat_getPermalink": (),
    "conversations_create": ("channels:manage", "groups:write"),
    "conversations_invite": ("channels:manage", "groups:write"),
    "conversations_setTopic": ("channels:manage", "groups:write"),
    "conversations_setPurpose": ("channels:manage", "groups:write"),
    "conversations_archive": ("channels:manage", "groups:write"),
    "conversations_unarchive": ("channels:manage", "groups:write"),
    "conversations_rename": ("channels:manage", "groups:write"),
    "conversations_kick": ("channels:manage", "groups:write"),
    "conversations_info": ("channels:read", "groups:read"),
    "conversations_members": ("channels:read", "groups:read"),
    "conversations_list": ("channels:read", "groups:read"),
    "conversations_history": ("channels:history", "groups:history"),
    "conversations_replies": ("channels:history", "groups:history"),
    "conversations_join": ("channels:join",),
    "conversations_open": ("im:write",),
    "users_info": ("users:read",), "users_lookupByEmail": ("users:read.email",),
    "usergroups_users_list": ("usergroups:read",),
    "files_info": ("files:read",), "files_upload_v2": ("files:write",),
    "files_getUploadURLExternal": ("files:write",), "files_completeUploadExternal": ("files:write",),
    "bookmarks_add": ("bookmarks:write",), "reactions_add": ("reactions:write",), "pins_add": ("pins:write",),
    "views_open": (), "views_update": (), "views_push": (), "views_publish": (),
    "auth_test": (), "auth_revoke": (), "apps_connections_open": (), "team_info": ("team:read",),
}
MESSAGE_CHANNEL_TYPES = {"message.channels": "channel", "message.groups": "group", "message.im": "im",
                         "message.mpim": "mpim"}
# Scopes that no Web API method call shows: why each is needed.
IMPLICIT_SCOPES = {
    "reactions:read": "the reaction_added event (the note reaction)",
    "commands": "the slash command and the message shortcut",
    "files:read": "downloading the file a person attaches in the upload modal (url_private)",
    "im:history": "conversations.history on a DM (the relay's repair of a DM after a crash)",
}
CALL = re.compile(
    r"\b(?:client|slack|web_client)\.((?:chat|conversations|views|users|usergroups|bookmarks|files|"
    r"reactions|pins|team|auth|apps)_[A-Za-z0-9_]+)\("
)


def methods_called() -> set[str]:
    found: set[str] = set()
    for path in [*(REPO / "bot").rglob("*.py"), *(REPO / "blocks").rglob("*.py")]:
        found.update(CALL.findall(path.read_text(encoding="utf-8")))
    return found


def manifest_scopes() -> list[str]:
    scopes = MANIFEST["oauth_config"]["scopes"]["bot"]
    assert isinstance(scopes, list)
    return [str(s) for s in scopes]


def test_manifest_declares_the_default_command_and_the_shortcut() -> None:
    commands = [c["command"] for c in MANIFEST["features"]["slash_commands"]]
    assert commands == [Settings.model_fields["caseroom_command"].default]
    shortcuts = MANIFEST["features"]["shortcuts"]
    assert {s["callback_id"] for s in shortcuts} == {s.value for s in Shortcut}
    note = next(s for s in shortcuts if s["callback_id"] == Shortcut.NOTE_FROM_MESSAGE)
    assert note["type"] == "message" and note["name"] == "Add to case as note"


def test_manifest_socket_mode_on_with_http_urls_as_comments() -> None:
    settings = MANIFEST["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert "request_url" not in settings["interactivity"]
    assert "request_url" not in settings["event_subscriptions"]
    assert "url" not in MANIFEST["features"]["slash_commands"][0]
    commented = re.findall(r"#\s*(?:request_)?url: (https://\S+)", RAW)
    assert len(commented) == 3 and all(u.endswith("/slack/events") for u in commented)


def test_manifest_scopes_each_have_a_reason() -> None:
    in_block = False
    for line in RAW.splitlines():
        if line.strip() == "bot:":
            in_block = True
            continue
        if in_block and line.strip().startswith("- "):
            assert "#" in line and len(line.split("#", 1)[1].strip()) > 10, f"scope without a reason: {line}"
        elif in_block and line.strip() and not line.strip().startswith("#"):
            break


def test_manifest_scopes_match_what_check_requires() -> None:
    assert sorted(manifest_scopes()) == sorted(REQUIRED_SCOPES)
    assert len(set(manifest_scopes())) == len(manifest_scopes())


def test_manifest_lists_each_bot_event_once() -> None:
    # Two features wanting the same event (App Home's queue and the workspace setup) subscribe once.
    events = MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    assert len(set(events)) == len(events), sorted(e for e in events if events.count(e) > 1)


def test_manifest_grants_every_method_the_code_calls() -> None:
    scopes = set(manifest_scopes())
    called = methods_called()
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add these Slack methods to METHOD_SCOPES: {sorted(unknown)}"
    for method in sorted(called):
        needed = METHOD_SCOPES[method]
        if needed:
            assert set(needed) <= scopes, f"{method} needs {needed}"


def test_manifest_asks_for_no_scope_the_code_does_not_use() -> None:
    used = {s for m in methods_called() for s in METHOD_SCOPES.get(m, ())} | set(IMPLICIT_SCOPES)
    extra = set(manifest_scopes()) - used
    assert not extra, f"scopes nothing uses: {sorted(extra)}"


# --- listeners on a built app -----------------------------------------------------------------


@pytest.fixture
async def app() -> AsyncIterator[CaseroomApp]:
    settings = load_settings(
        slack_bot_token="xoxb-1-manifest-test", slack_app_token="xapp-1-manifest-test",
        debitura_api_key="k", slack_api_url="http://127.0.0.1:9/api/", debitura_api_url="http://127.0.0.1:9",
        redis_url="redis://127.0.0.1:9/0",
    )
    runtime = await build_runtime(settings)
    try:
        yield build_app(runtime, socket_mode=True)
    finally:
        await runtime.aclose()


async def handled(app: CaseroomApp, body: dict[str, Any]) -> bool:
    req = AsyncBoltRequest(body=body, mode="socket_mode")
    resp = BoltResponse(status=200, body="")
    for listener in app._async_listeners:
        if await listener.async_matches(req=req, resp=resp):
            return True
    return False


BASE = {"team": {"id": "T1"}, "user": {"id": "U1", "team_id": "T1"}, "api_app_id": "A1", "token": "t"}


async def test_manifest_command_has_a_listener(app: CaseroomApp) -> None:
    for command in MANIFEST["features"]["slash_commands"]:
        body = {"command": command["command"], "text": "", "team_id": "T1", "user_id": "U1"}
        assert await handled(app, body), command


async def test_manifest_every_shortcut_has_a_listener(app: CaseroomApp) -> None:
    for shortcut in MANIFEST["features"]["shortcuts"]:
        kind = "message_action" if shortcut["type"] == "message" else "shortcut"
        body = {**BASE, "type": kind, "callback_id": shortcut["callback_id"], "trigger_id": "1"}
        assert await handled(app, body), shortcut["callback_id"]


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name)
async def test_ids_every_action_has_a_listener(app: CaseroomApp, action: Action) -> None:
    body = {**BASE, "type": "block_actions", "trigger_id": "1",
            "actions": [{"action_id": action.value, "block_id": "b", "type": "button", "value": "{}"}]}
    assert await handled(app, body), f"no listener for action {action.value}"


# Callbacks of views that have no input and no submit button, so Slack never sends a submission.
SUBMITLESS = {Callback.RESULT}


@pytest.mark.parametrize("callback", [c for c in Callback if c not in SUBMITLESS], ids=lambda c: c.name)
async def test_ids_every_modal_callback_has_a_submission_listener(
    app: CaseroomApp, callback: Callback
) -> None:
    view = {"id": "V1", "type": "modal", "callback_id": callback.value, "private_metadata": "",
            "state": {"values": {}}}
    body = {**BASE, "type": "view_submission", "view": view}
    assert await handled(app, body), f"no view_submission listener for {callback.value}"


async def test_manifest_every_subscribed_event_has_a_listener(app: CaseroomApp) -> None:
    for event in MANIFEST["settings"]["event_subscriptions"]["bot_events"]:
        # message.channels / message.groups deliver `message` events from that kind of conversation
        inner = ({"type": "message", "channel_type": MESSAGE_CHANNEL_TYPES[event]}
                 if event.startswith("message.") else {"type": event})
        body = {"token": "t", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                "event_id": "Ev1", "event": inner,
                "authorizations": [{"team_id": "T1", "user_id": "UB", "is_bot": True}]}
        assert await handled(app, body), event


async def test_ids_unknown_ids_are_not_handled(app: CaseroomApp) -> None:
    """The listener checks above mean something only if an unknown id finds no listener."""
    action = {**BASE, "type": "block_actions", "trigger_id": "1",
              "actions": [{"action_id": "not_a_caseroom_action", "block_id": "b", "type": "button"}]}
    assert not await handled(app, action)
    view = {"id": "V1", "type": "modal", "callback_id": "not_a_caseroom_modal", "state": {"values": {}}}
    assert not await handled(app, {**BASE, "type": "view_submission", "view": view})


def test_manifest_subscribes_to_every_event_the_code_listens_to() -> None:
    listened: set[str] = set()
    for path in (REPO / "bot").rglob("*.py"):
        listened.update(re.findall(r"app\.event\(\s*[\"']([a-z_.]+)[\"']", path.read_text(encoding="utf-8")))
    assert listened, "the app listens to app_uninstalled and tokens_revoked at least"
    # `message` is subscribed per conversation kind: message.channels, message.groups...
    subscribed = {e.split(".", 1)[0] if e.startswith("message.") else e
                  for e in MANIFEST["settings"]["event_subscriptions"]["bot_events"]}
    assert listened == subscribed
