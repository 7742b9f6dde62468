"""The driver: plays Slack's side towards the bot, over HTTP (signed requests to /slack/events) or
Socket Mode (envelopes over the fake's WebSocket), with one API:

    ack = await driver.command("/case", "help", user="U1", channel="C1")
    assert ack.ok                      # acked within Slack's 3 s
    await fake.journal.wait_for(lambda: fake.journal.responses(ack.response_url))

Slack's side effects of an ack are applied to the fake workspace too: a `view_submission` ack with
`response_action` update/push/clear changes the user's view stack, no response_action closes the view.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

import aiohttp

from tests.fakes.slack import payloads, scopes
from tests.fakes.slack.journal import rendered_text
from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.socket_mode import EnvelopeType
from tests.fakes.slack.validation import validate_view
from tests.fakes.slack.workspace import Channel, Message, User, View, Workspace

ACK_DEADLINE = 3.0

TransportName = Literal["http", "socket"]


def sign(signing_secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 request signature headers for `body`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class Ack:
    """The bot's answer to one request, as Slack saw it."""

    transport: TransportName
    acked: bool
    """Answered (HTTP 2xx / a Socket Mode ack) within the deadline."""
    status: int | None
    body: str
    payload: dict[str, Any] | None
    latency: float
    headers: dict[str, str] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)
    view_errors: list[str] = field(default_factory=list)
    """Slack's validation errors for a view returned in a response_action (the user sees an error)."""

    @property
    def ok(self) -> bool:
        return self.acked and self.status is not None and 200 <= self.status < 300 and not self.view_errors

    @property
    def text(self) -> str:
        if self.payload is not None:
            return str(self.payload.get("text", ""))
        return self.body

    @property
    def rendered(self) -> str:
        """All text a person would read in the ack's message (text and blocks)."""
        return rendered_text(self.payload) if self.payload is not None else self.body

    @property
    def response_url(self) -> str | None:
        value = self.request.get("response_url")
        return str(value) if value else None

    @property
    def trigger_id(self) -> str | None:
        value = self.request.get("trigger_id")
        return str(value) if value else None

    @property
    def response_action(self) -> str | None:
        return (
            str(self.payload.get("response_action"))
            if self.payload and "response_action" in self.payload
            else None
        )

    @property
    def errors(self) -> dict[str, str]:
        return dict(self.payload.get("errors") or {}) if self.payload else {}


class Transport(Protocol):
    name: TransportName

    async def send(
        self,
        kind: EnvelopeType,
        payload: dict[str, Any],
        *,
        retry_num: int = 0,
        retry_reason: str | None = None,
        deadline: float = ACK_DEADLINE,
    ) -> Ack: ...


class HttpTransport:
    """Signed POSTs to the bot's /slack/events, as Slack sends them."""

    name: TransportName = "http"

    def __init__(self, url: str, signing_secret: str) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self.timestamp: int | None = None
        """Override the signature timestamp (replay-window tests); None = now."""

    @staticmethod
    def encode(kind: EnvelopeType, payload: Mapping[str, Any]) -> tuple[bytes, str]:
        if kind == "slash_commands":
            return urlencode(payload).encode(), "application/x-www-form-urlencoded"
        if kind == "interactive":
            return urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"
        return json.dumps(payload).encode(), "application/json"

    async def send(
        self,
        kind: EnvelopeType,
        payload: dict[str, Any],
        *,
        retry_num: int = 0,
        retry_reason: str | None = None,
        deadline: float = ACK_DEADLINE,
    ) -> Ack:
        body, content_type = self.encode(kind, payload)
        return await self.post_raw(
            body,
            content_type,
            request=payload,
            retry_num=retry_num,
            retry_reason=retry_reason,
            deadline=deadline,
        )

    async def post_raw(
        self,
        body: bytes,
        content_type: str,
        *,
        request: dict[str, Any] | None = None,
        retry_num: int = 0,
        retry_reason: str | None = None,
        deadline: float = ACK_DEADLINE,
        headers: Mapping[str, str] | None = None,
    ) -> Ack:
        sent = {"Content-Type": content_type, **sign(self.signing_secret, body, self.timestamp)}
        if retry_num:
            sent["X-Slack-Retry-Num"] = str(retry_num)
            sent["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        sent.update(headers or {})
        started = time.perf_counter()
        timeout = aiohttp.ClientTimeout(total=deadline)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                async with session.post(self.url, data=body, headers=sent) as resp:
                    text = await resp.text()
                    latency = time.perf_counter() - started
                    parsed: dict[str, Any] | None = None
                    if resp.content_type == "application/json" and text:
                        loaded = json.loads(text)
                        parsed = loaded if isinstance(loaded, dict) else None
                    return Ack(
                        "http", True, resp.status, text, parsed, latency, dict(resp.headers), request or {}
                    )
            except TimeoutError:
                return Ack("http", False, None, "", None, time.perf_counter() - started, {}, request or {})


class SocketTransport:
    """Envelopes over the fake's Socket Mode connection; the ack is the envelope's answer."""

    name: TransportName = "socket"

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake

    async def send(
        self,
        kind: EnvelopeType,
        payload: dict[str, Any],
        *,
        retry_num: int = 0,
        retry_reason: str | None = None,
        deadline: float = ACK_DEADLINE,
    ) -> Ack:
        started = time.perf_counter()
        delivery = await self.fake.socket.send(
            kind, payload, retry_attempt=retry_num, retry_reason=retry_reason
        )
        try:
            ack_payload = await asyncio.wait_for(asyncio.shield(delivery.ack), deadline)
        except TimeoutError:
            return Ack("socket", False, None, "", None, time.perf_counter() - started, {}, payload)
        latency = time.perf_counter() - started
        body = json.dumps(ack_payload) if ack_payload is not None else ""
        return Ack("socket", True, 200, body, ack_payload, latency, {}, payload)


class Driver:
    """Slack's side of the conversation with the bot: commands, clicks, modals, shortcuts, events."""

    def __init__(self, fake: FakeSlack, transport: Transport, *, ack_deadline: float = ACK_DEADLINE,
                 workspace: Workspace | None = None) -> None:
        self.fake = fake
        self.transport = transport
        self.ack_deadline = ack_deadline
        self.workspace = workspace
        """The workspace whose people act (default: the fake's first); see FakeSlack.add_team."""

    @property
    def ws(self) -> Workspace:
        return self.workspace if self.workspace is not None else self.fake.workspace

    def for_team(self, workspace: Workspace) -> Driver:
        """The same transport, acting as people of another workspace."""
        return Driver(self.fake, self.transport, ack_deadline=self.ack_deadline, workspace=workspace)

    def _user(self, user: str | User) -> User:
        user_id = user.id if isinstance(user, User) else user
        if user_id not in self.ws.users:
            raise ValueError(f"unknown user {user_id}: add it with fake.workspace.add_user()")
        return self.ws.users[user_id]

    async def _send(self, kind: EnvelopeType, payload: dict[str, Any], **kw: Any) -> Ack:
        return await self.transport.send(kind, payload, deadline=self.ack_deadline, **kw)

    # -- slash commands and shortcuts -------------------------------------------------------------

    async def command(self, command: str, text: str = "", *, user: str | User, channel: str) -> Ack:
        who = self._user(user)
        if channel not in self.ws.channels:
            raise ValueError(f"unknown channel {channel}: commands are typed in a real conversation")
        fields = payloads.slash_command(
            self.ws, self.fake.base_url, command=command, text=text, user=who, channel_id=channel
        )
        return await self._send("slash_commands", fields)

    async def global_shortcut(self, callback_id: str, *, user: str | User) -> Ack:
        return await self._send(
            "interactive", payloads.global_shortcut(self.ws, user=self._user(user), callback_id=callback_id)
        )

    async def message_shortcut(
        self, callback_id: str, *, user: str | User, channel: str, message_ts: str
    ) -> Ack:
        message = self._message(channel, message_ts)
        if message.visible_to is not None:
            raise ValueError("Slack offers no message shortcuts on ephemeral messages")
        payload = payloads.message_shortcut(
            self.ws, self.fake.base_url, user=self._user(user), callback_id=callback_id, message=message
        )
        return await self._send("interactive", payload)

    # -- block_actions ----------------------------------------------------------------------------

    def _message(self, channel: str, ts: str, user: User | None = None) -> Message:
        """A message the user can see: in the channel, or ephemeral to them."""
        target = self.ws.channel(channel, as_bot=False)
        found = self.ws.find_message(target.id, ts, user_id=user.id if user else None)
        if found is None:
            raise ValueError(f"no message {ts} in {channel} that this user can see")
        return found

    async def click(
        self,
        action_id: str,
        *,
        user: str | User,
        channel: str | None = None,
        message_ts: str | None = None,
        view_id: str | None = None,
        block_id: str | None = None,
        selected: Any = None,
    ) -> Ack:
        """A block_actions interaction on an element that exists in a message (channel+message_ts)
        or in a view (view_id, default: the user's open modal). `selected` is what the user chose
        (option value, date, user id...); buttons need none."""
        who = self._user(user)
        message: Message | None = None
        view: View | None = None
        if message_ts is not None:
            if channel is None:
                raise ValueError("channel is required with message_ts")
            message = self._message(channel, message_ts, who)
            blocks: Any = message.blocks
        else:
            view = self.ws.find_view(view_id) if view_id else self.ws.top_view(who.id)
            if view is None:
                raise ValueError(f"{who.id} has no open view; pass message_ts or view_id")
            blocks = view.data.get("blocks")
        bid, element = payloads.find_element(blocks, action_id, block_id)
        payload = payloads.block_actions(
            self.ws,
            self.fake.base_url,
            user=who,
            block_id=bid,
            element=element,
            selected=selected,
            message=message,
            view=view,
        )
        return await self._send("interactive", payload)

    # -- modals -----------------------------------------------------------------------------------

    async def submit_view(
        self, *, user: str | User, values: Mapping[str, Any] | None = None, view_id: str | None = None
    ) -> Ack:
        """Submit the user's open modal with {block_id: value}; applies the ack's response_action
        (errors keep it open, update/push/clear change the stack, nothing closes it) like Slack."""
        who = self._user(user)
        view = self.ws.find_view(view_id) if view_id else self.ws.top_view(who.id)
        if view is None:
            raise ValueError(f"{who.id} has no open modal to submit")
        if "submit" not in view.data:
            raise ValueError(f"view {view.callback_id!r} has no submit button")
        state = payloads.view_state(view, values or {})
        ack = await self._send(
            "interactive", payloads.view_submission(self.ws, user=who, view=view, state=state)
        )
        if ack.ok:
            self._apply_response_action(who.id, view, ack)
        return ack

    def _apply_response_action(self, user_id: str, view: View, ack: Ack) -> None:
        action = ack.response_action
        if action == "errors":
            return
        if action in ("update", "push"):
            new_view = (ack.payload or {}).get("view")
            errors = validate_view(new_view)
            if errors or not isinstance(new_view, dict):
                ack.view_errors = errors or ["must provide an object [json-pointer:/view]"]
                return
            if action == "update":
                self.ws.replace_view(view, new_view)
            else:
                stack = self.ws.view_stacks.get(user_id) or []
                if len(stack) >= 3:
                    ack.view_errors = ["push_limit_reached"]
                    return
                self.ws.push_modal(user_id, new_view)
            return
        if action == "clear":
            self.ws.clear_views(user_id)
            return
        self.ws.close_top_view(user_id)

    async def close_view(self, *, user: str | User, view_id: str | None = None) -> Ack | None:
        """The user closes the modal: it leaves the stack (the whole stack with clear_on_close);
        `view_closed` is sent only when the view asked for it with notify_on_close, as Slack does.
        Returns None when nothing was sent."""
        who = self._user(user)
        view = self.ws.find_view(view_id) if view_id else self.ws.top_view(who.id)
        if view is None:
            raise ValueError(f"{who.id} has no open modal to close")
        cleared = bool(view.data.get("clear_on_close"))
        if cleared:
            self.ws.clear_views(who.id)
        else:
            self.ws.close_top_view(who.id)
        self.fake.journal.notify()
        if not view.data.get("notify_on_close"):
            return None
        payload = payloads.view_closed(self.ws, user=who, view=view, is_cleared=cleared)
        return await self._send("interactive", payload)

    # -- Events API -------------------------------------------------------------------------------

    async def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int = 0,
        retry_reason: str | None = None,
    ) -> Ack:
        """One Events API delivery; a retry repeats the event_id with X-Slack-Retry-Num (HTTP) or
        retry_attempt (Socket Mode)."""
        self._check_deliverable(event)
        envelope = payloads.event_envelope(self.ws, event, event_id=event_id)
        return await self._send("events_api", envelope, retry_num=retry_num, retry_reason=retry_reason)

    def _check_deliverable(self, event: Mapping[str, Any]) -> None:
        """Slack delivers an event only when the app subscribes to it and holds its scope, and a
        message or reaction event only from a conversation the bot is a member of."""
        subscribed = self.fake.subscribed_events
        name = scopes.event_subscription(event)
        if subscribed is not None and name not in subscribed:
            raise ValueError(f"the app does not subscribe to {name}: Slack would not deliver it")
        scope = scopes.event_scope(event)
        granted = self.fake.granted_scopes
        if scope is not None and granted is not None and scope not in granted:
            raise ValueError(f"{name} needs the {scope} scope: Slack would not deliver it")
        item = event.get("item")
        channel_id = event.get("channel") if event.get("type") == "message" else (
            item.get("channel") if isinstance(item, Mapping) else None)
        if isinstance(channel_id, str):
            channel = self.ws.channels.get(channel_id)
            if channel is None or self.ws.BOT_USER_ID not in channel.members:
                raise ValueError(f"the bot is not in {channel_id}: Slack would not deliver the event")

    async def event_with_retries(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_delays: Sequence[float] = (0.0, 0.0, 0.0),
    ) -> list[Ack]:
        """Deliver like Slack: while the app does not answer 2xx in time, retry (at most 3 times, after
        `retry_delays`; Slack waits ~0 s, 1 min, 5 min) with the same event_id and retry number/reason.
        An HTTP answer with `X-Slack-No-Retry: 1` stops the retries."""
        event_id = event_id or payloads.new_event_id()
        acks = [await self.event(event, event_id=event_id)]
        for attempt, delay in enumerate(retry_delays[:3], start=1):
            last = acks[-1]
            if last.ok or last.headers.get("X-Slack-No-Retry") == "1":
                break
            await asyncio.sleep(delay)
            reason = "http_timeout" if not last.acked else "http_error"
            acks.append(await self.event(event, event_id=event_id, retry_num=attempt, retry_reason=reason))
        return acks

    async def user_change(self, user: str | User, *, event_id: str | None = None) -> Ack:
        """Slack tells the app a profile changed (change the User first: guest, deleted, team_id...):
        the `user_change` event in an event_callback envelope, with the full user object."""
        who = self._user(user)
        return await self.event(payloads.user_change_event(self.ws, who), event_id=event_id)

    async def app_home_opened(self, user: str | User, *, tab: str = "home",
                              event_id: str | None = None) -> Ack:
        """The person opens the app's Home (or Messages) tab: Slack's `app_home_opened` event."""
        who = self._user(user)
        return await self.event(payloads.app_home_opened_event(self.ws, who, tab=tab), event_id=event_id)

    async def user_message(
        self,
        text: str,
        *,
        user: str | User,
        channel: str,
        thread_ts: str | None = None,
        event_id: str | None = None,
    ) -> tuple[Message, Ack]:
        """A person posts in a channel: the message lands in the fake's history and the bot gets
        the `message` event (if it is a member, as Slack only delivers then)."""
        who = self._user(user)
        target = self.ws.channel(channel, as_bot=False)
        if self.ws.BOT_USER_ID not in target.members:
            raise ValueError(f"the bot is not in {channel}: Slack would not deliver the event")
        message = self.ws.post_as_user(target.id, who.id, text, thread_ts=thread_ts)
        ack = await self.event(payloads.message_event(message, _channel_type(target)), event_id=event_id)
        return message, ack

    async def thread_reply(
        self, text: str, *, user: str | User, channel: str, thread_ts: str, event_id: str | None = None
    ) -> tuple[Message, Ack]:
        """A person replies in the thread of message `thread_ts` (the reply carries `thread_ts` and
        `parent_user_id`, and is not in the channel's top-level history)."""
        return await self.user_message(text, user=user, channel=channel, thread_ts=thread_ts,
                                       event_id=event_id)

    async def edit_message(self, message: Message, text: str, *, event_id: str | None = None) -> Ack:
        """The author edits `message`: the text changes in history and the bot gets `message_changed`."""
        target = self.ws.channel(message.channel, as_bot=False)
        before = self.ws.edit_as_user(message, text)
        event = payloads.message_changed_event(before, message, _channel_type(target), self.ws.new_ts())
        return await self.event(event, event_id=event_id)

    async def bot_post(
        self, text: str, *, channel: str, thread_ts: str | None = None, event_id: str | None = None
    ) -> tuple[Message, Ack]:
        """Another app's post (classic bot or incoming webhook): `subtype: bot_message`, a `bot_id`."""
        target = self.ws.channel(channel, as_bot=False)
        message = self.ws.post_as_other_bot(target.id, text, thread_ts=thread_ts)
        ack = await self.event(payloads.message_event(message, _channel_type(target)), event_id=event_id)
        return message, ack

    async def react(
        self, reaction: str, *, user: str | User, channel: str, ts: str, event_id: str | None = None
    ) -> Ack | None:
        """`user` adds an emoji reaction (name without colons) to a message; Slack sends
        `reaction_added` (None when the user had already added that reaction: nothing is sent)."""
        who = self._user(user)
        message = self._message(channel, ts, who)
        if message.visible_to is not None:
            raise ValueError("ephemeral messages take no reactions")
        if not self.ws.react(message, who.id, reaction):
            return None
        event = payloads.reaction_added_event(message, user=who, reaction=reaction, event_ts=self.ws.new_ts())
        return await self.event(event, event_id=event_id)

    async def url_verification(self, challenge: str = "fake-challenge") -> Ack:
        if not isinstance(self.transport, HttpTransport):
            raise ValueError("url_verification only exists in HTTP mode")
        body = {"token": payloads.VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        return await self.transport.post_raw(
            json.dumps(body).encode(), "application/json", request=body, deadline=self.ack_deadline
        )


def _channel_type(channel: Channel) -> str:
    return "im" if channel.is_im else "group" if channel.is_private else "channel"


def http_driver(fake: FakeSlack, events_url: str) -> Driver:
    return Driver(fake, HttpTransport(events_url, fake.signing_secret))


def socket_driver(fake: FakeSlack) -> Driver:
    return Driver(fake, SocketTransport(fake))


__all__ = [
    "ACK_DEADLINE",
    "Ack",
    "Driver",
    "HttpTransport",
    "SocketTransport",
    "http_driver",
    "sign",
    "socket_driver",
]
