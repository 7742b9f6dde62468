"""The fake workspace's in-memory state: team, users, groups, channels, messages, views, files,
issued trigger_ids and response_urls. Methods here are the state transitions the Web API methods
and the driver share; Slack's argument rules live in the method modules.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.slack.clock import FakeClock
from tests.fakes.slack.errors import SlackError

TRIGGER_TTL = 3.0
RESPONSE_URL_TTL = 30 * 60.0
RESPONSE_URL_USES = 5
VIEW_STACK_MAX = 3
CHANNEL_NAME_MAX = 80
TOPIC_MAX = 250


@dataclass
class User:
    id: str
    team_id: str
    name: str
    real_name: str
    email: str | None = None
    tz: str = "Europe/Copenhagen"
    tz_offset: int = 3600
    is_bot: bool = False
    bot_id: str | None = None
    is_admin: bool = False
    is_restricted: bool = False
    is_ultra_restricted: bool = False
    deleted: bool = False

    def to_api(self, home_team: str) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "display_name": self.name,
            "team": self.team_id,
        }
        if self.email and not self.is_bot:
            profile["email"] = self.email
        if self.bot_id:
            profile["bot_id"] = self.bot_id
        body: dict[str, Any] = {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "real_name": self.real_name,
            "deleted": self.deleted,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": self.tz_offset,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "is_admin": self.is_admin,
            "is_owner": False,
            "is_restricted": self.is_restricted,
            "is_ultra_restricted": self.is_ultra_restricted,
            "profile": profile,
        }
        if self.team_id != home_team:
            body["is_stranger"] = True
        return body


@dataclass
class UserGroup:
    id: str
    handle: str
    name: str
    users: list[str] = field(default_factory=list)


@dataclass
class Message:
    ts: str
    channel: str
    text: str
    user: str
    bot_id: str | None = None
    blocks: list[Any] | None = None
    attachments: list[Any] | None = None
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    edited: dict[str, str] | None = None
    subtype: str | None = None
    files: list[str] = field(default_factory=list)
    reply_count: int = 0
    visible_to: str | None = None
    """Set on ephemeral messages: the one user who sees it (it is in no channel history)."""
    parent_user_id: str | None = None
    """On a thread reply: the user of the thread's parent message (Slack sends it on replies)."""
    reactions: list[dict[str, Any]] = field(default_factory=list)
    """[{"name", "users", "count"}], as Slack shows them."""
    username: str | None = None
    """A `bot_message` (classic bot / webhook) carries a username instead of a user."""
    pinned_to: list[str] = field(default_factory=list)
    """Channels the message is pinned in (pins.add)."""

    def to_api(self, *, include_metadata: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        if self.user:
            body["user"] = self.user
        if self.username:
            body["username"] = self.username
        if self.bot_id:
            body["bot_id"] = self.bot_id
            body["app_id"] = Workspace.APP_ID
        if self.subtype:
            body["subtype"] = self.subtype
        if self.blocks is not None:
            body["blocks"] = copy.deepcopy(self.blocks)
        if self.attachments is not None:
            body["attachments"] = copy.deepcopy(self.attachments)
        if self.thread_ts:
            body["thread_ts"] = self.thread_ts
        if self.parent_user_id and self.thread_ts and self.thread_ts != self.ts:
            body["parent_user_id"] = self.parent_user_id
        if self.reactions:
            body["reactions"] = copy.deepcopy(self.reactions)
        if self.reply_count:
            body["reply_count"] = self.reply_count
        if self.edited:
            body["edited"] = dict(self.edited)
        if self.files:
            body["files"] = [{"id": f} for f in self.files]
        if include_metadata and self.metadata is not None:
            body["metadata"] = copy.deepcopy(self.metadata)
        if self.pinned_to:
            body["pinned_to"] = list(self.pinned_to)
        return body


@dataclass
class Bookmark:
    id: str
    channel_id: str
    title: str
    type: str
    link: str | None
    emoji: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel_id": self.channel_id,
            "title": self.title,
            "type": self.type,
            "link": self.link,
            "emoji": self.emoji,
        }


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    creator: str
    created: int
    is_im: bool = False
    members: set[str] = field(default_factory=set)
    is_archived: bool = False
    topic: str = ""
    purpose: str = ""
    bookmarks: list[Bookmark] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    is_general: bool = False
    is_shared: bool = False
    """Shared with another workspace (Slack Connect or across an Enterprise Grid org)."""
    is_ext_shared: bool = False
    """Shared with another organisation (Slack Connect)."""
    is_pending_ext_shared: bool = False
    """An invitation to share it with another organisation is pending."""

    def to_api(self, *, include_num_members: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private and not self.is_im,
            "is_group": False,
            "is_im": self.is_im,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_general": self.is_general,
            "is_member": Workspace.BOT_USER_ID in self.members,
            "is_mpim": False,
            "is_shared": self.is_shared,
            "is_ext_shared": self.is_ext_shared,
            "is_pending_ext_shared": self.is_pending_ext_shared,
            "is_org_shared": False,
            "created": self.created,
            "creator": self.creator,
            "name_normalized": self.name,
            "topic": {"value": self.topic, "creator": self.creator if self.topic else "", "last_set": 0},
            "purpose": {"value": self.purpose, "creator": "", "last_set": 0},
        }
        if include_num_members:
            body["num_members"] = len(self.members)
        return body

    def find(self, ts: str) -> Message | None:
        for message in self.messages:
            if message.ts == ts:
                return message
        return None


@dataclass
class View:
    id: str
    team_id: str
    user_id: str
    data: dict[str, Any]
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    state: dict[str, Any] = field(default_factory=lambda: {"values": {}})

    @property
    def type(self) -> str:
        return str(self.data.get("type"))

    @property
    def callback_id(self) -> str:
        return str(self.data.get("callback_id", ""))

    @property
    def private_metadata(self) -> str:
        return str(self.data.get("private_metadata", ""))

    @property
    def external_id(self) -> str:
        return str(self.data.get("external_id", ""))

    def to_api(self) -> dict[str, Any]:
        body = copy.deepcopy(self.data)
        body.setdefault("private_metadata", "")
        body.setdefault("callback_id", "")
        body.setdefault("external_id", "")
        body.setdefault("clear_on_close", False)
        body.setdefault("notify_on_close", False)
        body.update(
            {
                "id": self.id,
                "team_id": self.team_id,
                "state": copy.deepcopy(self.state),
                "hash": self.hash,
                "root_view_id": self.root_view_id,
                "previous_view_id": self.previous_view_id,
                "app_id": Workspace.APP_ID,
                "app_installed_team_id": self.team_id,
                "bot_id": Workspace.BOT_ID,
            }
        )
        return body


@dataclass
class File:
    id: str
    name: str
    length: int
    user: str
    created: int
    title: str | None = None
    content: bytes | None = None
    completed: bool = False
    channels: list[str] = field(default_factory=list)

    def to_api(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title or self.name,
            "size": self.length,
            "user": self.user,
            "created": self.created,
            "channels": list(self.channels),
            "url_private": f"{base_url}files/{self.id}/{self.name}",
            "permalink": f"https://fake.slack.com/files/{self.user}/{self.id}/{self.name}",
        }


@dataclass
class Trigger:
    id: str
    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class ResponseUrl:
    token: str
    user_id: str
    channel_id: str | None
    issued_at: float
    message_ts: str | None = None
    uses: int = 0


def view_hash(data: dict[str, Any], counter: int) -> str:
    digest = hashlib.sha256(repr((counter, sorted(data.items(), key=lambda kv: kv[0]))).encode()).hexdigest()
    return f"{counter}.{digest[:12]}"


_NAME_CHARS = re.compile(r"^[a-z0-9_\-]+$")


def channel_name_error(name: Any) -> str | None:
    """Slack's conversations.create/rename name checks; None when the name is acceptable."""
    if not isinstance(name, str) or name == "":
        return "invalid_name_required"
    if len(name) > CHANNEL_NAME_MAX:
        return "invalid_name_maxlength"
    if not _NAME_CHARS.match(name):
        return "invalid_name_specials"
    if not re.search(r"[a-z0-9]", name):
        return "invalid_name_punctuation"
    return None


class Workspace:
    """One team, its bot user, and everything the Web API methods read and change."""

    TEAM_ID = "T0CASEROOM"
    TEAM_DOMAIN = "caseroom-fake"
    ENTERPRISE_ID: str | None = None
    """The Enterprise Grid org the workspace belongs to (None: a standalone workspace)."""
    APP_ID = "A0CASEROOM"
    BOT_ID = "B0CASEROOM"
    BOT_USER_ID = "U0CASEBOT"

    def __init__(self, clock: FakeClock, *, bot_token: str, app_token: str, team_id: str | None = None,
                 team_domain: str | None = None, bot_user_id: str | None = None,
                 ids: itertools.count[int] | None = None, enterprise_id: str | None = None) -> None:
        self.ENTERPRISE_ID = enterprise_id
        if team_id is not None:  # another workspace the app is installed in (FakeSlack.add_team)
            self.TEAM_ID = team_id
            self.TEAM_DOMAIN = team_domain or team_id.lower()
            self.BOT_USER_ID = bot_user_id or f"U0BOT{team_id[-4:]}"
        self.clock = clock
        self.bot_token = bot_token
        self.app_token = app_token
        self.users: dict[str, User] = {}
        self.groups: dict[str, UserGroup] = {}
        self.channels: dict[str, Channel] = {}
        self.views: dict[str, View] = {}
        self.view_stacks: dict[str, list[str]] = {}
        self.home_views: dict[str, str] = {}
        self.files: dict[str, File] = {}
        self.ephemerals: dict[str, Message] = {}
        self.triggers: dict[str, Trigger] = {}
        self.response_urls: dict[str, ResponseUrl] = {}
        self._ids = ids if ids is not None else itertools.count(1)
        self._last_ts = 0.0
        self._hash_counter = itertools.count(1)
        self.users[self.BOT_USER_ID] = User(
            id=self.BOT_USER_ID,
            team_id=self.TEAM_ID,
            name="caseroom",
            real_name="Caseroom",
            is_bot=True,
            bot_id=self.BOT_ID,
        )
        general = self.add_channel("general", creator=self.BOT_USER_ID)
        general.is_general = True

    # -- ids and time -----------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08X}"

    def new_ts(self) -> str:
        now = round(self.clock.time(), 6)
        if now <= self._last_ts:
            now = round(self._last_ts + 0.000001, 6)
        self._last_ts = now
        return f"{now:.6f}"

    def now(self) -> float:
        return self.clock.time()

    # -- seeding (test setup; no Slack rules) -----------------------------------------------------

    def add_user(
        self,
        name: str,
        *,
        email: str | None = None,
        real_name: str | None = None,
        tz: str = "Europe/Copenhagen",
        tz_offset: int = 3600,
        guest: str | None = None,
        team_id: str | None = None,
        is_admin: bool = False,
        deleted: bool = False,
        user_id: str | None = None,
    ) -> User:
        """guest: None, "multi" (is_restricted) or "single" (is_ultra_restricted).
        team_id: another team's id for a Slack Connect (external) user."""
        if guest not in (None, "multi", "single"):
            raise ValueError("guest must be None, 'multi' or 'single'")
        user = User(
            id=user_id or self.new_id("U"),
            team_id=team_id or self.TEAM_ID,
            name=name,
            real_name=real_name or name.title(),
            email=email if email is not None else f"{name}@example.com",
            tz=tz,
            tz_offset=tz_offset,
            is_admin=is_admin,
            is_restricted=guest is not None,
            is_ultra_restricted=guest == "single",
            deleted=deleted,
        )
        if user.id in self.users:
            raise ValueError(f"user {user.id} exists")
        self.users[user.id] = user
        return user

    def add_group(self, handle: str, users: list[str]) -> UserGroup:
        group = UserGroup(id=self.new_id("S"), handle=handle, name=handle.title(), users=list(users))
        self.groups[group.id] = group
        return group

    def add_channel(
        self,
        name: str,
        *,
        is_private: bool = False,
        members: list[str] | None = None,
        creator: str | None = None,
        archived: bool = False,
        bot_member: bool = True,
        shared: str | None = None,
    ) -> Channel:
        """shared: None, "external" (Slack Connect: is_shared and is_ext_shared) or "pending" (an
        invitation to another organisation not yet accepted: is_pending_ext_shared)."""
        if shared not in (None, "external", "pending"):
            raise ValueError("shared must be None, 'external' or 'pending'")
        channel = Channel(
            id=self.new_id("C"),
            name=name,
            is_private=is_private,
            creator=creator or next(iter(members or [self.BOT_USER_ID])),
            created=int(self.now()),
            members=set(members or []),
            is_archived=archived,
            is_shared=shared == "external",
            is_ext_shared=shared == "external",
            is_pending_ext_shared=shared == "pending",
        )
        if bot_member:
            channel.members.add(self.BOT_USER_ID)
        self.channels[channel.id] = channel
        return channel

    def post_as_user(self, channel_id: str, user_id: str, text: str, thread_ts: str | None = None) -> Message:
        """A person's message (for history and events); no bot rules. A reply (`thread_ts`) needs its
        parent in the channel, as in Slack's client."""
        channel = self.channels[channel_id]
        message = Message(ts=self.new_ts(), channel=channel_id, text=text, user=user_id, thread_ts=thread_ts)
        self._attach_reply(channel, message)
        channel.messages.append(message)
        return message

    def post_as_other_bot(self, channel_id: str, text: str, *, bot_id: str = "B0OTHERBOT",
                          username: str = "webhook", thread_ts: str | None = None) -> Message:
        """A classic bot or incoming webhook's post (`subtype: bot_message`, no user)."""
        channel = self.channels[channel_id]
        message = Message(ts=self.new_ts(), channel=channel_id, text=text, user="", bot_id=bot_id,
                          subtype="bot_message", username=username, thread_ts=thread_ts)
        self._attach_reply(channel, message)
        channel.messages.append(message)
        return message

    def _attach_reply(self, channel: Channel, message: Message) -> None:
        if not message.thread_ts:
            return
        parent = channel.find(message.thread_ts)
        if parent is None or (parent.thread_ts and parent.thread_ts != parent.ts):
            raise ValueError(f"no message {message.thread_ts} in {channel.id} to reply to "
                             "(replies nest one level)")
        if parent.thread_ts is None:
            parent.thread_ts = parent.ts  # a parent carries its own ts as thread_ts once it has replies
        parent.reply_count += 1
        message.parent_user_id = parent.user or None

    def edit_as_user(self, message: Message, text: str) -> Message:
        """A person edits their message: returns the message as it was (for `previous_message`)."""
        before = copy.deepcopy(message)
        message.text = text
        message.edited = {"user": message.user, "ts": self.new_ts()}
        return before

    def react(self, message: Message, user_id: str, name: str) -> bool:
        """`user_id` adds reaction `name` to `message`; False if they had already (Slack sends nothing)."""
        for reaction in message.reactions:
            if reaction["name"] == name:
                if user_id in reaction["users"]:
                    return False
                reaction["users"].append(user_id)
                reaction["count"] += 1
                return True
        message.reactions.append({"name": name, "users": [user_id], "count": 1})
        return True

    # -- lookups with Slack's errors --------------------------------------------------------------

    def user(self, user_id: Any, error: str = "user_not_found") -> User:
        if not isinstance(user_id, str) or user_id not in self.users:
            raise SlackError(error)
        return self.users[user_id]

    def channel(self, channel_id: Any, *, as_bot: bool = True) -> Channel:
        """The channel the bot can see: unknown ids and private channels without the bot are
        `channel_not_found`, as in Slack."""
        if not isinstance(channel_id, str) or not channel_id:
            raise SlackError("channel_not_found")
        channel = self.channels.get(channel_id)
        if channel is None and channel_id.startswith("U") and channel_id in self.users:
            channel = self.open_im(channel_id)
        if channel is None:
            raise SlackError("channel_not_found")
        if as_bot and channel.is_private and self.BOT_USER_ID not in channel.members:
            raise SlackError("channel_not_found")
        return channel

    def open_im(self, user_id: str) -> Channel:
        for channel in self.channels.values():
            if channel.is_im and channel.members == {user_id, self.BOT_USER_ID}:
                return channel
        im = Channel(
            id=self.new_id("D"),
            name=user_id,
            is_private=True,
            creator=user_id,
            created=int(self.now()),
            is_im=True,
            members={user_id, self.BOT_USER_ID},
        )
        self.channels[im.id] = im
        return im

    def channel_by_name(self, name: str) -> Channel | None:
        for channel in self.channels.values():
            if channel.name == name and not channel.is_im:
                return channel
        return None

    # -- trigger_ids and response_urls ------------------------------------------------------------

    def issue_trigger(self, user_id: str) -> str:
        trigger_id = f"{next(self._ids)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = Trigger(id=trigger_id, user_id=user_id, issued_at=self.now())
        return trigger_id

    def use_trigger(self, trigger_id: Any) -> Trigger:
        trigger = self.triggers.get(trigger_id) if isinstance(trigger_id, str) else None
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self.now() - trigger.issued_at > TRIGGER_TTL:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    def issue_response_url(
        self, base_url: str, user_id: str, channel_id: str | None, message_ts: str | None = None
    ) -> str:
        token = secrets.token_urlsafe(24)
        self.response_urls[token] = ResponseUrl(
            token=token, user_id=user_id, channel_id=channel_id, issued_at=self.now(), message_ts=message_ts
        )
        return f"{base_url}response/{self.TEAM_ID}/{token}"

    # -- messages ---------------------------------------------------------------------------------

    def add_bot_message(
        self,
        channel: Channel,
        *,
        text: str,
        blocks: list[Any] | None,
        attachments: list[Any] | None,
        thread_ts: str | None,
        metadata: dict[str, Any] | None,
    ) -> Message:
        message = Message(
            ts=self.new_ts(),
            channel=channel.id,
            text=text,
            user=self.BOT_USER_ID,
            bot_id=self.BOT_ID,
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts,
            metadata=metadata,
        )
        if thread_ts:
            parent = channel.find(thread_ts)
            if parent is not None:
                if parent.thread_ts is None:
                    parent.thread_ts = parent.ts
                parent.reply_count += 1
                message.parent_user_id = parent.user or None
        channel.messages.append(message)
        return message

    def add_ephemeral(self, channel_id: str, user_id: str, *, text: str, blocks: list[Any] | None) -> Message:
        message = Message(
            ts=self.new_ts(),
            channel=channel_id,
            text=text,
            user=self.BOT_USER_ID,
            bot_id=self.BOT_ID,
            blocks=blocks,
            visible_to=user_id,
        )
        self.ephemerals[message.ts] = message
        return message

    def delete_message(self, message: Message) -> None:
        if message.visible_to is not None:
            self.ephemerals.pop(message.ts, None)
            return
        channel = self.channels[message.channel]
        channel.messages = [m for m in channel.messages if m.ts != message.ts]

    def find_message(self, channel_id: str, ts: str, *, user_id: str | None = None) -> Message | None:
        """A channel message, or an ephemeral one in that channel visible to `user_id`."""
        channel = self.channels.get(channel_id)
        found = channel.find(ts) if channel else None
        if found is not None:
            return found
        ephemeral = self.ephemerals.get(ts)
        if ephemeral is not None and ephemeral.channel == channel_id and ephemeral.visible_to == user_id:
            return ephemeral
        return None

    # -- views ------------------------------------------------------------------------------------

    def new_view(
        self, user_id: str, data: dict[str, Any], *, root: str | None = None, previous: str | None = None
    ) -> View:
        view_id = self.new_id("V")
        view = View(
            id=view_id,
            team_id=self.TEAM_ID,
            user_id=user_id,
            data=copy.deepcopy(data),
            hash=view_hash(data, next(self._hash_counter)),
            root_view_id=root or view_id,
            previous_view_id=previous,
        )
        self.views[view_id] = view
        return view

    def replace_view(self, view: View, data: dict[str, Any]) -> View:
        view.data = copy.deepcopy(data)
        view.hash = view_hash(data, next(self._hash_counter))
        return view

    def open_modal(self, user_id: str, data: dict[str, Any]) -> View:
        view = self.new_view(user_id, data)
        self.view_stacks[user_id] = [view.id]
        return view

    def push_modal(self, user_id: str, data: dict[str, Any]) -> View:
        stack = self.view_stacks.get(user_id) or []
        if not stack:
            raise SlackError("not_found")
        if len(stack) >= VIEW_STACK_MAX:
            raise SlackError("push_limit_reached")
        top = self.views[stack[-1]]
        view = self.new_view(user_id, data, root=top.root_view_id, previous=top.id)
        stack.append(view.id)
        return view

    def find_view(self, view_id: Any = None, external_id: Any = None) -> View:
        if isinstance(view_id, str) and view_id in self.views:
            return self.views[view_id]
        if isinstance(external_id, str) and external_id:
            for view in self.views.values():
                if view.external_id == external_id:
                    return view
        raise SlackError("not_found")

    def top_view(self, user_id: str) -> View | None:
        stack = self.view_stacks.get(user_id) or []
        return self.views[stack[-1]] if stack else None

    def close_top_view(self, user_id: str) -> None:
        stack = self.view_stacks.get(user_id) or []
        if stack:
            stack.pop()

    def clear_views(self, user_id: str) -> None:
        self.view_stacks[user_id] = []

    def publish_home(self, user_id: str, data: dict[str, Any]) -> View:
        existing = self.home_views.get(user_id)
        if existing:
            return self.replace_view(self.views[existing], data)
        view = self.new_view(user_id, data)
        self.home_views[user_id] = view.id
        return view
