"""The relay's own value type: what it queues for Slack (one outbox entry)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.store.snapshots import CaseSnap

Op = Literal["post", "update", "topic", "archive", "unarchive", "feed", "summary", "dm", "digest"]


class Delivery(BaseModel):
    """One entry of a lane's outbox (a lane is a case channel, or the feed channel).

    `id` identifies the relayed item within its case (`chat:<id>`, `tl:<hash>`, `pay:<id>`...);
    it is what the exactly-once record and the message metadata carry.
    """

    model_config = ConfigDict(extra="ignore")

    id: str
    case_id: str
    kind: str
    op: Op
    text: str = ""
    blocks: list[dict[str, Any]] = Field(default_factory=list)
    version: str = ""
    feed: str = ""
    """What the feed channel says about this delivery ("" = none), as plain text: `build_feed_line`
    escapes it (once) and links the case channel."""
    at: float = 0.0
    """When the event happened (unix seconds), for the lag metric."""
    path: str = "poll"
    """What found it: `webhook`, `poll`, `sweep`, `backfill`."""
    case: CaseSnap | None = None
    attempts: int = 0
    role: int | None = None
    """A chat's author role (Debitura's number), stamped in the message metadata (RelayStamp)."""
    lane: str = ""
    """The outbox lane ("" = the case's own). Direct messages go to `dm:<email>` (bot.store.notify)."""
    to: str = ""
    """`dm`: the Debitura email of the person (their Slack account is found at delivery), or a Slack user
    id (`U...`, admins); `digest`: the channel. Empty for channel items."""
    hold: bool = True
    """`dm`: wait for the end of the person's quiet hours (False: send at once)."""
    pref: str = ""
    """`dm`: the preference that allows it (`dm:<DmKind>`, `reminder:<ReminderKind>` of
    bot.store.attention, or `digest`); "" = always."""
