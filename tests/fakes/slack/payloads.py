"""What Slack sends to an app: slash command fields, interaction payloads, Events API envelopes.

Builders take the fake workspace so trigger_ids and response_urls are real (issued and checked by the
fake), and so users click only elements that exist in the message or view they are looking at.
"""

from __future__ import annotations

import copy
import hashlib
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from tests.fakes.slack.workspace import Message, User, View, Workspace

VERIFICATION_TOKEN = "fake-deprecated-verification-token"


def _user(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id}


def _team(ws: Workspace) -> dict[str, Any]:
    return {"id": ws.TEAM_ID, "domain": ws.TEAM_DOMAIN}


def _enterprise(ws: Workspace) -> dict[str, Any] | None:
    return {"id": ws.ENTERPRISE_ID, "name": ws.ENTERPRISE_ID.lower()} if ws.ENTERPRISE_ID else None


def _base(ws: Workspace, user: User, kind: str) -> dict[str, Any]:
    return {
        "type": kind,
        "token": VERIFICATION_TOKEN,
        "team": _team(ws),
        "user": _user(user),
        "api_app_id": ws.APP_ID,
        "is_enterprise_install": False,
        "enterprise": _enterprise(ws),
    }


def slash_command(
    ws: Workspace, base_url: str, *, command: str, text: str, user: User, channel_id: str
) -> dict[str, str]:
    channel = ws.channels.get(channel_id)
    grid = {"enterprise_id": ws.ENTERPRISE_ID, "enterprise_name": ws.ENTERPRISE_ID.lower()} \
        if ws.ENTERPRISE_ID else {}
    return {
        **grid,
        "token": VERIFICATION_TOKEN,
        "team_id": ws.TEAM_ID,
        "team_domain": ws.TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel.name if channel and not channel.is_im else "directmessage",
        "user_id": user.id,
        "user_name": user.name,
        "command": command,
        "text": text,
        "api_app_id": ws.APP_ID,
        "is_enterprise_install": "false",
        "response_url": ws.issue_response_url(base_url, user.id, channel_id),
        "trigger_id": ws.issue_trigger(user.id),
    }


def iter_elements(blocks: Any) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
    """(block_id, element) for every interactive element of a block list."""
    for block in blocks or []:
        if not isinstance(block, Mapping):
            continue
        block_id = block.get("block_id")
        if isinstance(block.get("accessory"), Mapping):
            yield block_id, block["accessory"]
        if block.get("type") == "actions":
            for element in block.get("elements") or []:
                if isinstance(element, Mapping):
                    yield block_id, element
        if block.get("type") == "input" and isinstance(block.get("element"), Mapping):
            yield block_id, block["element"]


def find_element(blocks: Any, action_id: str, block_id: str | None = None) -> tuple[str, Mapping[str, Any]]:
    for bid, element in iter_elements(blocks):
        if element.get("action_id") == action_id and (block_id is None or bid == block_id):
            return bid or _generated_block_id(blocks, element), element
    where = f" in block {block_id}" if block_id else ""
    raise ValueError(f"no element with action_id {action_id!r}{where}: a user cannot click it")


def _generated_block_id(blocks: Any, element: Mapping[str, Any]) -> str:
    """Slack gives blocks without a block_id a generated one; stable per action_id here."""
    return hashlib.sha1(str(element.get("action_id")).encode()).hexdigest()[:5]


def _options(element: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += list(group.get("options") or [])
    return options


def _option(element: Mapping[str, Any], value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    for option in _options(element):
        if option.get("value") == value:
            return copy.deepcopy(dict(option))
    if element.get("type") in ("external_select", "multi_external_select"):
        return {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)}
    raise ValueError(f"{element.get('action_id')!r} has no option with value {value!r}")


def action_value(element: Mapping[str, Any], selected: Any) -> dict[str, Any]:
    """The action/state entry Slack reports for `element` given what the user chose."""
    kind = str(element.get("type"))
    out: dict[str, Any] = {"type": kind}
    if kind == "button":
        out["text"] = copy.deepcopy(element.get("text"))
        if "value" in element:
            out["value"] = element["value"]
        if "style" in element:
            out["style"] = element["style"]
    elif kind in ("plain_text_input", "email_text_input", "url_text_input", "number_input"):
        out["value"] = None if selected is None else str(selected)
    elif kind == "datepicker":
        out["selected_date"] = selected
    elif kind == "timepicker":
        out["selected_time"] = selected
    elif kind in ("static_select", "external_select", "radio_buttons", "overflow"):
        out["selected_option"] = None if selected is None else _option(element, selected)
    elif kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        out["selected_options"] = [_option(element, v) for v in (selected or [])]
    elif kind == "users_select":
        out["selected_user"] = selected
    elif kind == "multi_users_select":
        out["selected_users"] = list(selected or [])
    elif kind == "conversations_select":
        out["selected_conversation"] = selected
    elif kind == "multi_conversations_select":
        out["selected_conversations"] = list(selected or [])
    elif kind == "channels_select":
        out["selected_channel"] = selected
    elif kind == "multi_channels_select":
        out["selected_channels"] = list(selected or [])
    elif kind == "file_input":
        out["files"] = [f if isinstance(f, Mapping) else {"id": f} for f in (selected or [])]
    elif kind == "rich_text_input":
        out["rich_text_value"] = selected
    else:
        raise ValueError(f"cannot build a value for element type {kind}")
    return out


def view_state(view: View, values: Mapping[str, Any]) -> dict[str, Any]:
    """state.values for a view, from {block_id: python value} (or {block_id: {action_id: raw entry}}).

    Input blocks that are not optional must get a value: Slack's client does not submit otherwise.
    """
    state: dict[str, dict[str, Any]] = {}
    known: set[str] = set()
    for block in view.data.get("blocks") or []:
        if not isinstance(block, Mapping) or block.get("type") != "input":
            continue
        block_id = str(block.get("block_id"))
        element = block.get("element") or {}
        action_id = str(element.get("action_id"))
        known.add(block_id)
        given = values.get(block_id)
        if given is None:
            initial = _initial(element)
            if initial is None and not block.get("optional"):
                raise ValueError(f"input block {block_id!r} is required: Slack would not submit the view")
            state[block_id] = {action_id: action_value(element, initial)}
        elif isinstance(given, Mapping) and action_id in given and isinstance(given[action_id], Mapping):
            state[block_id] = {action_id: dict(given[action_id])}
        else:
            state[block_id] = {action_id: action_value(element, given)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"no input blocks {sorted(unknown)} in view {view.callback_id!r}")
    return {"values": state}


def _initial(element: Mapping[str, Any]) -> Any:
    for key in (
        "initial_value",
        "initial_date",
        "initial_time",
        "initial_user",
        "initial_conversation",
        "initial_channel",
    ):
        if key in element:
            return element[key]
    if "initial_option" in element:
        return element["initial_option"]
    if "initial_options" in element:
        return element["initial_options"]
    return None


def block_actions(
    ws: Workspace,
    base_url: str,
    *,
    user: User,
    block_id: str,
    element: Mapping[str, Any],
    selected: Any,
    message: Message | None = None,
    view: View | None = None,
) -> dict[str, Any]:
    action = action_value(element, selected)
    action.update(
        {"action_id": element.get("action_id"), "block_id": block_id, "action_ts": f"{time.time():.6f}"}
    )
    payload = _base(ws, user, "block_actions")
    payload["trigger_id"] = ws.issue_trigger(user.id)
    payload["actions"] = [action]
    if message is not None:
        channel = ws.channels[message.channel]
        ephemeral = message.visible_to is not None
        payload["container"] = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": channel.id,
            "is_ephemeral": ephemeral,
        }
        payload["channel"] = {"id": channel.id, "name": channel.name}
        if not ephemeral:  # Slack does not send the content of ephemeral messages
            payload["message"] = message.to_api()
        payload["state"] = {"values": {}}
        payload["response_url"] = ws.issue_response_url(base_url, user.id, channel.id, message.ts)
    elif view is not None:
        payload["container"] = {"type": "view", "view_id": view.id}
        payload["view"] = view.to_api()
    return payload


def view_submission(ws: Workspace, *, user: User, view: View, state: dict[str, Any]) -> dict[str, Any]:
    view.state = state
    payload = _base(ws, user, "view_submission")
    payload["trigger_id"] = ws.issue_trigger(user.id)
    payload["view"] = view.to_api()
    payload["response_urls"] = []
    return payload


def view_closed(ws: Workspace, *, user: User, view: View, is_cleared: bool = False) -> dict[str, Any]:
    payload = _base(ws, user, "view_closed")
    payload["view"] = view.to_api()
    payload["is_cleared"] = is_cleared
    return payload


def global_shortcut(ws: Workspace, *, user: User, callback_id: str) -> dict[str, Any]:
    payload = _base(ws, user, "shortcut")
    payload.update(
        {
            "callback_id": callback_id,
            "trigger_id": ws.issue_trigger(user.id),
            "action_ts": f"{time.time():.6f}",
        }
    )
    return payload


def message_shortcut(
    ws: Workspace, base_url: str, *, user: User, callback_id: str, message: Message
) -> dict[str, Any]:
    channel = ws.channels[message.channel]
    payload = _base(ws, user, "message_action")
    payload.update(
        {
            "callback_id": callback_id,
            "trigger_id": ws.issue_trigger(user.id),
            "action_ts": f"{time.time():.6f}",
            "message_ts": message.ts,
            "channel": {"id": channel.id, "name": channel.name},
            "message": message.to_api(),
            "response_url": ws.issue_response_url(base_url, user.id, channel.id, message.ts),
        }
    )
    return payload


def new_event_id() -> str:
    return f"Ev{uuid.uuid4().hex[:10].upper()}"


def event_envelope(ws: Workspace, event: Mapping[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    now = int(time.time())
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": ws.TEAM_ID,
        **({"enterprise_id": ws.ENTERPRISE_ID} if ws.ENTERPRISE_ID else {}),
        "api_app_id": ws.APP_ID,
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id or new_event_id(),
        "event_time": now,
        "authorizations": [
            {
                "enterprise_id": ws.ENTERPRISE_ID,
                "team_id": ws.TEAM_ID,
                "user_id": ws.BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{uuid.uuid4().hex}",
    }


def message_event(message: Message, channel_type: str) -> dict[str, Any]:
    event = message.to_api(include_metadata=True)
    event.update({"channel": message.channel, "channel_type": channel_type, "event_ts": message.ts})
    if not message.bot_id:
        event["client_msg_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{message.channel}/{message.ts}"))
    return event


def user_change_event(ws: Workspace, user: User) -> dict[str, Any]:
    """Slack's `user_change` event: the whole user object as users.info shows it, after the change."""
    now = time.time()
    return {"type": "user_change", "user": user.to_api(ws.TEAM_ID), "cache_ts": int(now),
            "event_ts": f"{now:.6f}"}


def channel_shared_event(channel_id: str, connected_team_id: str = "E0OTHERORG") -> dict[str, Any]:
    """Slack's `channel_shared` event: another organisation joined a channel the bot is in."""
    return {"type": "channel_shared", "connected_team_id": connected_team_id, "channel": channel_id,
            "event_ts": f"{time.time():.6f}"}


def channel_unshared_event(channel_id: str, previously_connected_team_id: str = "E0OTHERORG",
                           *, is_ext_shared: bool = False) -> dict[str, Any]:
    """Slack's `channel_unshared` event: an organisation left a shared channel the bot is in."""
    return {"type": "channel_unshared", "previously_connected_team_id": previously_connected_team_id,
            "channel": channel_id, "is_ext_shared": is_ext_shared, "event_ts": f"{time.time():.6f}"}


def message_changed_event(
    before: Message, after: Message, channel_type: str, event_ts: str
) -> dict[str, Any]:
    """Slack's `message` event with `subtype: message_changed`: the edited message whole in `message`
    (its own ts, and thread_ts for a reply), the earlier one in `previous_message`; hidden."""
    new = after.to_api(include_metadata=True)
    old = before.to_api(include_metadata=True)
    if not after.bot_id:
        client_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{after.channel}/{after.ts}"))
        new["client_msg_id"] = old["client_msg_id"] = client_id
    return {"type": "message", "subtype": "message_changed", "hidden": True, "channel": after.channel,
            "channel_type": channel_type, "ts": event_ts, "event_ts": event_ts, "message": new,
            "previous_message": old}


def reaction_added_event(message: Message, *, user: User, reaction: str, event_ts: str) -> dict[str, Any]:
    """Slack's `reaction_added`: who, which emoji (no colons), and the item; `item_user` only when the
    message has a user (not for webhook / classic bot posts)."""
    event: dict[str, Any] = {"type": "reaction_added", "user": user.id, "reaction": reaction,
                             "item": {"type": "message", "channel": message.channel, "ts": message.ts},
                             "event_ts": event_ts}
    if message.user:
        event["item_user"] = message.user
    return event


def app_home_opened_event(ws: Workspace, user: User, *, tab: str = "home") -> dict[str, Any]:
    """Slack's `app_home_opened`: the person, the app's DM with them, the tab (`home` or `messages`), and,
    once a Home was published for them, that `view` (as views.publish returned it)."""
    event: dict[str, Any] = {"type": "app_home_opened", "user": user.id, "channel": ws.open_im(user.id).id,
                             "tab": tab, "event_ts": f"{time.time():.6f}"}
    view_id = ws.home_views.get(user.id)
    if tab == "home" and view_id:
        event["view"] = ws.views[view_id].to_api()
    return event
