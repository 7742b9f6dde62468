"""OAuth scopes: which bot scope each Web API method needs, by conversation type where it matters.

A FakeSlack built with `scopes=[...]` answers a call lacking its scope with Slack's
`{"ok": false, "error": "missing_scope", "needed": ..., "provided": ...}` and reports the granted
scopes in the `x-oauth-scopes` header; with `scopes=None` (the default) every scope is granted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.fakes.slack.workspace import Workspace

_READ = {"channel": "channels:read", "group": "groups:read", "im": "im:read"}
_HISTORY = {"channel": "channels:history", "group": "groups:history", "im": "im:history"}
_MANAGE = {"channel": "channels:manage", "group": "groups:write", "im": "im:write"}

BY_CONVERSATION: dict[str, dict[str, str]] = {
    "conversations.info": _READ,
    "conversations.members": _READ,
    "conversations.history": _HISTORY,
    "conversations.replies": _HISTORY,
    "conversations.invite": _MANAGE,
    "conversations.setTopic": _MANAGE,
    "conversations.archive": _MANAGE,
    "conversations.unarchive": _MANAGE,
    "conversations.rename": _MANAGE,
}

FIXED: dict[str, str | None] = {
    "auth.test": None,
    "auth.revoke": None,
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "chat.getPermalink": None,
    "conversations.join": "channels:join",
    "views.open": None,
    "views.update": None,
    "views.push": None,
    "views.publish": None,
    "users.info": "users:read",
    "conversations.open": "im:write",
    "users.lookupByEmail": "users:read.email",
    "usergroups.users.list": "usergroups:read",
    "bookmarks.add": "bookmarks:write",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "files.info": "files:read",
    "apps.connections.open": None,  # app-level token, connections:write
    "reactions.add": "reactions:write",
    "pins.add": "pins:write",
}

# Events API: the bot scope an event needs (by conversation type for `message`); Slack delivers an
# event only when the app subscribes to it and holds its scope.
EVENT_SCOPES: dict[str, str] = {
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
    "user_change": "users:read",
}
MESSAGE_SUBSCRIPTION = {"channel": "message.channels", "group": "message.groups", "im": "message.im"}


def event_scope(event: Mapping[str, Any]) -> str | None:
    """The scope the bot needs to receive `event` (None: none)."""
    if event.get("type") == "message":
        return _HISTORY.get(str(event.get("channel_type") or ""))
    return EVENT_SCOPES.get(str(event.get("type") or ""))


def event_subscription(event: Mapping[str, Any]) -> str:
    """The manifest's `bot_events` entry that delivers `event` (message.groups for a private message...)."""
    if event.get("type") == "message":
        return MESSAGE_SUBSCRIPTION.get(str(event.get("channel_type") or ""), "message")
    return str(event.get("type") or "")


def needed(method: str, args: Mapping[str, Any], ws: Workspace) -> tuple[str, ...]:
    """The scopes of which the bot needs one for this call (empty: none needed)."""
    if method == "conversations.create":
        private = str(args.get("is_private", "")).lower() in ("1", "true")
        return (_MANAGE["group" if private else "channel"],)
    table = BY_CONVERSATION.get(method)
    if table is None:
        scope = FIXED.get(method)
        return (scope,) if scope else ()
    channel = ws.channels.get(str(args.get("channel") or ""))
    if channel is None:
        return tuple(table.values())
    kind = "im" if channel.is_im else "group" if channel.is_private else "channel"
    return (table[kind],)
