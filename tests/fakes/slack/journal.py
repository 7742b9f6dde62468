"""What happened on the fake, for assertions: calls by method, messages, response_url posts,
ephemeral messages and open views, plus `wait_for` to await an effect of the bot's async work."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tests.fakes.slack.workspace import Message, Workspace

T = TypeVar("T")


def rendered_text(body: Any) -> str:
    """Every string under a "text" key of a message/response body (top-level text and all blocks),
    one per line: what a person reads, for assertions that should not depend on block layout."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(body)
    return "\n".join(found)


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    status: int
    response: dict[str, Any]
    at: float

    @property
    def ok(self) -> bool:
        return self.response.get("ok") is True

    @property
    def error(self) -> str | None:
        error = self.response.get("error")
        return str(error) if error is not None else None


@dataclass
class ResponsePost:
    """One POST to a response_url (accepted or not)."""

    token: str
    url: str
    user_id: str | None
    channel_id: str | None
    body: dict[str, Any]
    status: int
    error: str | None
    at: float
    message_ts: str | None = None
    """The message this post created or changed: an ephemeral one (see Workspace.ephemerals) unless
    in_channel; pass it to `driver.click(..., message_ts=...)` to click the reply's buttons."""

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))

    @property
    def rendered(self) -> str:
        return rendered_text(self.body)

    @property
    def ephemeral(self) -> bool:
        return bool(self.body.get("response_type", "ephemeral") != "in_channel")


@dataclass
class Ephemeral:
    channel: str
    user: str
    text: str
    blocks: list[Any] | None
    message_ts: str
    thread_ts: str | None = None


@dataclass
class Journal:
    workspace: Workspace
    calls_log: list[Call] = field(default_factory=list)
    response_posts: list[ResponsePost] = field(default_factory=list)
    ephemeral_log: list[Ephemeral] = field(default_factory=list)
    _event: asyncio.Event | None = None

    # -- recording (the fake calls these) ---------------------------------------------------------

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    def record_call(self, call: Call) -> None:
        self.calls_log.append(call)
        self.notify()

    def record_response(self, post: ResponsePost) -> None:
        self.response_posts.append(post)
        self.notify()

    def record_ephemeral(self, ephemeral: Ephemeral) -> None:
        self.ephemeral_log.append(ephemeral)
        self.notify()

    # -- queries ----------------------------------------------------------------------------------

    def calls(self, method: str | None = None, *, ok: bool | None = None) -> list[Call]:
        return [
            c for c in self.calls_log if (method is None or c.method == method) and (ok is None or c.ok == ok)
        ]

    def last_call(self, method: str) -> Call | None:
        calls = self.calls(method)
        return calls[-1] if calls else None

    def messages(self, channel_id: str, *, bot_only: bool = False) -> list[Message]:
        channel = self.workspace.channels.get(channel_id)
        if channel is None:
            return []
        return [m for m in channel.messages if not bot_only or m.bot_id]

    def ephemerals(self, *, channel: str | None = None, user: str | None = None) -> list[Ephemeral]:
        return [
            e
            for e in self.ephemeral_log
            if (channel is None or e.channel == channel) and (user is None or e.user == user)
        ]

    def responses(self, response_url: str | None = None, *, accepted_only: bool = True) -> list[ResponsePost]:
        return [
            r
            for r in self.response_posts
            if (response_url is None or r.url == response_url) and (not accepted_only or r.error is None)
        ]

    def view_for(self, user_id: str) -> dict[str, Any] | None:
        """The modal view on top of the user's stack (API shape), or None when no modal is open."""
        view = self.workspace.top_view(user_id)
        return view.to_api() if view else None

    def home_for(self, user_id: str) -> dict[str, Any] | None:
        view_id = self.workspace.home_views.get(user_id)
        return copy.deepcopy(self.workspace.views[view_id].to_api()) if view_id else None

    # -- waiting ----------------------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0, what: str = "") -> T:
        """Return the predicate's first truthy value; re-checked whenever the fake records something.

        Raises TimeoutError naming `what` (or the predicate) when `timeout` seconds pass first.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                label = what or getattr(predicate, "__qualname__", repr(predicate))
                raise TimeoutError(f"fake Slack: {label} did not happen within {timeout}s")
            if self._event is None:
                self._event = asyncio.Event()
            event = self._event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 0.25))

    async def wait_for_call(
        self, method: str, predicate: Callable[[Call], bool] | None = None, timeout: float = 5.0
    ) -> Call:
        def found() -> Call | None:
            for call in self.calls(method):
                if predicate is None or predicate(call):
                    return call
            return None

        return await self.wait_for(found, timeout, what=f"a {method} call")
