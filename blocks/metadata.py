"""Typed values carried through Slack: modal `private_metadata` and button `value`s.

Slack hands these strings back verbatim, so every one is a pydantic model encoded as compact JSON.
`encode_metadata()` refuses anything over `MAX_PRIVATE_METADATA` (3,000 chars) and `encode_value()`
anything over `MAX_BUTTON_VALUE` (2,000 chars): the error surfaces in our code and tests instead of a
`invalid_blocks` from Slack. `decode()` raises `MetadataError` on anything that is not the expected
model (tampered, truncated, or from an older release with a different shape).

Field names are short on purpose: a list page or a payment reference must fit a button value with
room to spare. Each model documents its fields.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_PRIVATE_METADATA = 3000
MAX_BUTTON_VALUE = 2000


class MetadataError(ValueError):
    """A metadata or button value could not be encoded (too long) or decoded (malformed)."""


class Metadata(BaseModel):
    """Base class: frozen, unknown keys refused, encoded without None fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def _encode(self, limit: int, what: str) -> str:
        raw = self.model_dump_json(by_alias=True, exclude_none=True, exclude_defaults=True)
        if len(raw) > limit:
            name = type(self).__name__
            raise MetadataError(f"{name} is {len(raw)} characters; a Slack {what} holds {limit}")
        return raw

    def encode_metadata(self) -> str:
        """For a view's `private_metadata` (at most 3,000 characters)."""
        return self._encode(MAX_PRIVATE_METADATA, "private_metadata")

    def encode_value(self) -> str:
        """For a button's `value` (at most 2,000 characters)."""
        return self._encode(MAX_BUTTON_VALUE, "button value")

    @classmethod
    def decode(cls, raw: str | None) -> Self:
        if not raw:
            raise MetadataError(f"{cls.__name__}: empty value")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise MetadataError(f"{cls.__name__}: malformed value ({exc.error_count()} errors)") from None


class CaseRef(Metadata):
    """Which case a button or modal is about.

    `id` is the case GUID (what the API needs), `ref` the Debitura reference (what people read),
    `ch` the channel the interaction started in (for audit lines and "Share in channel").
    """

    id: str = Field(min_length=1, max_length=64)
    ref: str = Field(default="", max_length=64)
    ch: str | None = Field(default=None, max_length=32)


class ListPage(Metadata):
    """A page of `/case list`: the status filter (enum names) and the page number (1-based); `mine`
    keeps only the cases assigned to the person asking, `ph` the engagement phases (`Pre-legal`,
    `Legal`, `Enforcement`, `none`)."""

    st: tuple[str, ...] = ()
    page: int = Field(default=1, ge=1, le=100_000)
    mine: bool = False
    ph: tuple[str, ...] = ()


class PaymentRef(Metadata):
    """A payment in the payments view (Edit / Delete buttons)."""

    id: str = Field(min_length=1, max_length=64)
    ref: str = Field(default="", max_length=64)
    pid: str = Field(min_length=1, max_length=64)
    ch: str | None = Field(default=None, max_length=32)


class ModalContext(Metadata):
    """`private_metadata` of the write modals.

    `case` is the case (None when the modal must ask for it), `ch` the channel the modal was opened
    from, `user` the Slack user who opened it, `url` a response_url to answer on when there is one,
    `cur` the case currency, `pid` a payment id (edit/delete), `extra` small per-modal values
    (strings only, e.g. a proposed success fee).
    """

    kind: str = Field(min_length=1, max_length=32)
    case: CaseRef | None = None
    ch: str | None = Field(default=None, max_length=32)
    user: str | None = Field(default=None, max_length=32)
    url: str | None = Field(default=None, max_length=1000)
    cur: str | None = Field(default=None, max_length=8)
    pid: str | None = Field(default=None, max_length=64)
    extra: dict[str, str] = Field(default_factory=dict)


class ThreadReply(Metadata):
    """A thread reply in a case channel offered to the creditor (the Send / Edit / Don't send buttons).

    `id`/`ref` the case, `chat` the relayed creditor chat it answers, `ch` the channel, `ts` the
    reply's ts, `th` the thread's (the relayed message's) ts. The reply's text is read again at Send.
    """

    id: str = Field(min_length=1, max_length=64)
    ref: str = Field(default="", max_length=64)
    chat: str = Field(default="", max_length=64)
    ch: str = Field(min_length=1, max_length=32)
    ts: str = Field(min_length=1, max_length=32)
    th: str = Field(min_length=1, max_length=32)


class ChatPage(Metadata):
    """A page of `/case chats` (Older / Newer buttons): the case and the page (1 = the newest chats)."""

    id: str = Field(min_length=1, max_length=64)
    ref: str = Field(default="", max_length=64)
    ch: str | None = Field(default=None, max_length=32)
    page: int = Field(default=1, ge=1, le=100_000)


RELAY_EVENT = "caseroom_item"
"""The `event_type` of the Slack message metadata the relay stamps on every message it posts."""


class RelayStamp(BaseModel):
    """The message metadata (`event_payload`) of a message the relay posted (bot.slack.pacing): which
    item it is (`item_id`: `chat:<id>`, `tl:...`, `summary`...) of which case, and for a chat the role of
    its author (`role`: Debitura's chat role number, 1 = the creditor; absent on messages posted
    before it was stamped, and on other items). Read leniently: a stamp from another release still
    names its item."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    item_id: str
    case_id: str
    role: int | None = None

    def to_slack(self) -> dict[str, object]:
        """The `metadata` argument of chat.postMessage / chat.update."""
        return {"event_type": RELAY_EVENT, "event_payload": self.model_dump(exclude_none=True)}

    @classmethod
    def from_slack(cls, metadata: object) -> RelayStamp | None:
        """The stamp in a message's `metadata` (conversations.history with include_all_metadata), or
        None when the message carries none (or another app's)."""
        if not isinstance(metadata, dict) or metadata.get("event_type") != RELAY_EVENT:
            return None
        payload = metadata.get("event_payload")
        if not isinstance(payload, dict):
            return None
        try:
            stamp = cls.model_validate(payload)
        except ValidationError:
            return None
        return stamp if stamp.item_id and stamp.case_id else None


class HomePage(Metadata):
    """A page of App Home (0-based): the Next/Previous buttons and the view's private_metadata."""

    page: int = Field(default=0, ge=0, le=10_000)


class HomeCase(Metadata):
    """A case row's Mute/Unmute button on App Home: the case and the page to show again."""

    id: str = Field(min_length=1, max_length=64)
    ref: str = Field(default="", max_length=64)
    page: int = Field(default=0, ge=0, le=10_000)
