"""The fake's Web API methods: one module per area, each adding handlers to `REGISTRY`.

A handler takes a `Context` (parsed arguments, the workspace, the server) and returns the answer's
fields (without `"ok": true`), or raises `SlackError` with Slack's error code.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tests.fakes.slack.errors import SlackError
from tests.fakes.slack.workspace import Workspace

if TYPE_CHECKING:
    from tests.fakes.slack.server import FakeSlack

TokenKind = Literal["bot", "app"]

_TRUE = {"1", "true", "True", "yes"}


class Args:
    """Arguments merged from the query string, a form body or a JSON body, read the way Slack does."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def has(self, name: str) -> bool:
        return self.raw.get(name) not in (None, "")

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value) if isinstance(value, float) else str(value)
        if isinstance(value, str):
            return value
        raise SlackError("invalid_arguments", messages=[f"must be a string [json-pointer:/{name}]"])

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        return str(value) in _TRUE

    def integer(self, name: str, default: int) -> int:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SlackError(
                "invalid_arguments", messages=[f"must be an integer [json-pointer:/{name}]"]
            ) from None

    def decoded(self, name: str, error: str) -> Any:
        """A JSON argument: an object/array in JSON bodies, a JSON string in forms and query strings."""
        value = self.raw.get(name)
        if isinstance(value, str):
            if value == "":
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise SlackError(error) from None
        return value

    def items(self, name: str) -> list[str]:
        value = self.raw.get(name)
        if value is None or value == "":
            return []
        if isinstance(value, list):
            return [str(v) for v in value]
        return [part.strip() for part in str(value).split(",") if part.strip()]


@dataclass
class Context:
    method: str
    args: Args
    fake: FakeSlack
    token_kind: TokenKind
    workspace: Workspace | None = None
    """The workspace the bot token belongs to (FakeSlack.add_team installs the app in more)."""
    token: str = ""
    """The token the call presented (auth.revoke revokes it)."""

    @property
    def ws(self) -> Workspace:
        return self.workspace if self.workspace is not None else self.fake.workspace


Handler = Callable[[Context], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Method:
    name: str
    handler: Handler
    token: TokenKind = "bot"


REGISTRY: dict[str, Method] = {}


def method(name: str, *, token: TokenKind = "bot") -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in REGISTRY:
            raise RuntimeError(f"{name} registered twice")
        REGISTRY[name] = Method(name, handler, token)
        return handler

    return register


def load_all() -> dict[str, Method]:
    """Import every method module (they register on import) and return the registry."""
    from tests.fakes.slack.api import (  # noqa: F401
        chat,
        conversations,
        files,
        people,
        pins,
        reactions,
        views,
    )

    return REGISTRY
