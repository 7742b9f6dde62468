"""Delivery workers: post each queued item to its Slack channel exactly once, in order per channel.

A lane (one case channel, or the feed) is worked by one worker at a time, under a lease. For each
item at the head of the lane's outbox:

1. its record in the case's `relayed` hash says done (`<channel>|<ts>|<version>`): drop it;
2. the record says `pending|<channel>|<time>`: a worker died between posting and recording, so look
   in the channel's history (messages stamped with metadata `caseroom_item` / item id) since then:
   found -> record it, done; not found -> post;
3. otherwise write `pending`, post (stamped with the item id), then record the ts and drop the item,
   in one Lua step fenced by the lease.

Slack 429s pause the method/channel and put the lane back with its due time; 5xx and network errors
back off; nothing is dropped. Only a request Slack refuses for good (invalid blocks and the like) goes
to the dead-letter list, logged and counted.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError

from blocks.relay import build_feed_line
from bot.relay.dms import DirectMessages, Held
from bot.relay.model import Delivery
from bot.relay.store import RelayStore
from bot.slack import channels, sharing
from bot.slack.errors import slack_error
from bot.slack.pacing import ChannelUnavailable, RetryLater, SlackIO, SlackRefused, retry_after_of, status_of
from bot.store.cases import CaseState
from bot.store.connect import write_replicated
from bot.store.notify import NotifyStore
from bot.store.reads import hget, hgetall
from bot.store.snapshots import CaseSnap

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

FEED_LANE = "feed"
MAX_BACKOFF = 300.0
PENDING = "pending"
HISTORY_SLACK = 30.0
"""Look this far before the pending mark in the history (clock skew between hosts and Slack)."""
SHARED_EXTERNALLY = "channel_shared_externally"
"""Dead-letter reason: the target channel is shared with another organisation (Slack Connect)."""


@dataclass
class DeliveryStats:
    posted: int = 0
    updated: int = 0
    repaired: int = 0
    skipped: int = 0
    retries: int = 0
    dead: int = 0


def parse_record(value: str | None) -> tuple[str, str, str] | None:
    """`<channel>|<ts>|<version>` -> tuple; None for missing or pending records."""
    if not value or value.startswith(PENDING + "|"):
        return None
    channel, _, rest = value.partition("|")
    ts, _, version = rest.partition("|")
    return channel, ts, version


async def _nothing(item: Delivery) -> None:
    return None


def backoff(attempts: int) -> float:
    return min(MAX_BACKOFF, 2.0 ** min(attempts, 10)) * (0.5 + random.random() / 2)


class Deliverer:
    def __init__(self, runtime: Runtime, store: RelayStore, slack: SlackIO, *, lease_ms: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.store = store
        self.slack = slack
        self.lease_ms = lease_ms
        self.clock = clock
        self.stats = DeliveryStats()
        self.stopping = False
        self.notify = NotifyStore(store.redis, store.keys)
        self.dms = DirectMessages(runtime, slack, self.notify, clock=clock)
        """Direct messages (op `dm`): who may get one, quiet hours, preferences (bot.relay.dms)."""
        self.after_post: Callable[[Delivery], Awaitable[None]] = _nothing
        """Test seam: awaited right after a Slack post returned, before it is recorded."""

    async def run_once(self, token: str) -> bool:
        keys = self.store.keys
        lane = await self.store.claim(keys.relay_ready(), "lane:", token, self.lease_ms, self.clock())
        if lane is None:
            return False
        lost = asyncio.Event()
        renew = asyncio.create_task(self._keep_lease("lane:" + lane, token, lost))
        next_at: float | None = None
        try:
            next_at = await self.work_lane(lane, token, lost)
        finally:
            renew.cancel()
            if not lost.is_set():
                await self.store.finish_lane(lane, token, next_at if next_at is not None else self.clock())
        return True

    async def _keep_lease(self, name: str, token: str, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                renewed = await self.store.renew_lease(name, token, self.lease_ms)
            except (RedisError, OSError):
                continue  # Redis unreachable: nobody else can take the lease either; try again
            if not renewed:
                log.warning("lost delivery lease", extra={"lease": name})
                lost.set()
                return

    async def work_lane(self, lane: str, token: str, lost: asyncio.Event) -> float | None:
        """Deliver the lane's items in order; returns when to come back (None: empty or stopping)."""
        while not self.stopping and not lost.is_set():
            item = await self.store.head(lane)
            if item is None:
                return None
            try:
                record, feed = await self.deliver(item)
            except Held as exc:
                log.info("direct message held", extra={"item": item.id, "reason": exc.reason,
                                                       "until": round(exc.until)})
                return exc.until
            except RetryLater as exc:
                self.stats.retries += 1
                if "429" in exc.reason or "paced" in exc.reason:
                    return self.clock() + max(exc.after, 0.5)
                item.attempts += 1
                await self.store.replace_head(lane, token, item)
                delay = max(exc.after, backoff(item.attempts))
                log.info("delivery deferred", extra={"item": item.id, "reason": exc.reason,
                                                     "retry_in": round(delay, 1)})
                return self.clock() + delay
            except SlackRefused as exc:
                self.stats.dead += 1
                log.error("Slack refused a relayed item; moved to the dead-letter list",
                          extra={"item": item.id, "case_id": item.case_id, "error": exc.error})
                await self.store.dead_letter(item, exc.error)
                record, feed = None, None
            if not await self.store.complete(lane, token, item, record, feed, self.clock()):
                log.warning("delivery lease lost before recording; the next worker repairs from history",
                            extra={"item": item.id})
                return None
            self._observe(item)
        return None

    def _observe(self, item: Delivery) -> None:
        metrics = self.runtime.metrics
        if item.op in ("post", "update", "dm"):
            metrics.relayed.labels(kind=item.kind).inc()
            if item.at:
                metrics.relay_lag.labels(path=item.path).observe(max(0.0, self.clock() - item.at))

    # --- one item ------------------------------------------------------------------------------------
    async def _case(self, item: Delivery) -> CaseSnap:
        if item.case is not None:
            return item.case
        raw = await hgetall(self.store.redis, self.store.keys.case_state(item.case_id))
        state = CaseState.from_hash(raw)
        return state.case or CaseSnap(id=item.case_id)

    async def _channel_op(self, coro_fn: Callable[[], Awaitable[Any]]) -> None:
        """Run a channel-management call (bot.slack.channels), mapping Slack errors like SlackIO does."""
        try:
            await coro_fn()
        except SlackApiError as exc:
            error = slack_error(exc)
            if status_of(exc) == 429 or error == "ratelimited":
                raise RetryLater(retry_after_of(exc), "channel op 429") from None
            if error in ("missing_scope", "restricted_action", "invalid_auth", "not_allowed_token_type"):
                raise SlackRefused(error) from None
            raise RetryLater(0, f"channel op {error or status_of(exc)}") from None
        except (TimeoutError, OSError) as exc:
            raise RetryLater(0, f"channel op {type(exc).__name__}") from None

    async def _refuse_shared(self, channel_id: str, item: Delivery) -> None:
        """The Slack Connect rule for every relay target: nothing goes into a channel shared with another
        organisation (conversations.info, cached CHANNEL_SHARING_TTL). A channel Caseroom cannot see is
        left to the post itself (channel_not_found / not_in_channel repair the channel)."""
        try:
            found = await sharing.channel_sharing(self.runtime, channel_id)
        except SlackApiError as exc:
            error = slack_error(exc)
            if status_of(exc) == 429 or error == "ratelimited":
                raise RetryLater(retry_after_of(exc), "conversations.info 429") from None
            if error in ("missing_scope", "invalid_auth", "not_allowed_token_type"):
                raise SlackRefused(error) from None
            raise RetryLater(0, f"conversations.info {error or status_of(exc)}") from None
        except (TimeoutError, OSError) as exc:
            raise RetryLater(0, f"conversations.info {type(exc).__name__}") from None
        if found is sharing.Sharing.EXTERNAL:
            log.error("refused to relay into channel %s: it is shared with another organisation (Slack "
                      "Connect), and case data stays inside the workspace. Remove the other organisation "
                      "from the channel%s.", channel_id,
                      ", or set CASEROOM_FEED_CHANNEL to an internal channel" if item.op == "feed" else "",
                      extra={"item": item.id, "case_id": item.case_id, "channel": channel_id})
            raise SlackRefused(SHARED_EXTERNALLY)

    async def _ensure_channel(self, item: Delivery) -> str:
        snap = await self._case(item)
        result: list[str] = []

        async def go() -> None:
            ch = await channels.ensure_case_channel(self.runtime, snap)
            result.append(ch.id)

        await self._channel_op(go)
        return result[0]

    async def deliver(self, item: Delivery) -> tuple[tuple[str, str] | None, Delivery | None]:
        """Deliver one item; returns (record to write, feed line to queue)."""
        runtime = self.runtime
        if item.op == "topic":
            current = await channels.channel_for_case(runtime, item.case_id)
            if current is not None and not current.archived:
                await self._refuse_shared(current.id, item)
            await self._channel_op(lambda: channels.set_topic(runtime, item.case_id, item.text))
            if item.case is not None and item.case.assignee_email:
                email = item.case.assignee_email
                await self._channel_op(lambda: channels.invite_assignee(runtime, item.case_id, email))
            return None, None
        if item.op == "summary":
            snap = item.case
            current = await channels.channel_for_case(runtime, item.case_id)
            if snap is None or current is None or current.archived:
                return None, None  # no channel yet: the summary is pinned when one is created
            await self._refuse_shared(current.id, item)
            await self._channel_op(lambda: channels.set_summary(runtime, item.case_id, snap))
            return None, None
        if item.op == "archive":
            await self._channel_op(lambda: channels.archive_case_channel(runtime, item.case_id))
            return None, None
        if item.op == "unarchive":
            await self._channel_op(lambda: channels.unarchive_case_channel(runtime, item.case_id))
            return None, None
        if item.op == "update":
            return await self._update(item), None
        if item.op == "dm":
            return await self.dms.deliver(
                item, lambda it, channel_of, dm: self._post_once(it, channel_of, dm=dm)), None
        if item.op == "digest":
            digest_channel = item.to

            async def digest() -> str:
                return digest_channel

            return await self._post_once(item, digest), None
        if item.op == "feed":
            feed_channel = runtime.settings.caseroom_feed_channel
            if not feed_channel:
                return None, None

            async def feed() -> str:
                return feed_channel

            return await self._post_once(item, feed), None
        record = await self._post_once(item, lambda: self._ensure_channel(item))
        return record, await self._feed_for(item, record)

    async def _feed_for(self, item: Delivery, record: tuple[str, str] | None) -> Delivery | None:
        if not self.runtime.settings.caseroom_feed_channel or not item.feed or record is None:
            return None
        parsed = parse_record(record[1])
        channel_id = parsed[0] if parsed else None
        snap = await self._case(item)
        line = build_feed_line(reference=snap.reference or item.case_id[:8], summary=item.feed,
                               channel_id=channel_id)
        return Delivery(id="feed:" + item.id, case_id=item.case_id, kind="feed", op="feed", text=line,
                        at=item.at, path=item.path)

    async def _post_once(self, item: Delivery, channel_of: Callable[[], Awaitable[str]], *,
                         dm: bool = False) -> tuple[str, str] | None:
        relayed_key = self.store.keys.relayed(item.case_id)
        redis = self.store.redis
        current = await hget(redis, relayed_key, item.id)
        done = parse_record(current)
        if done is not None:
            self.stats.skipped += 1
            return None
        if current and current.startswith(PENDING + "|"):
            _, channel_p, since = current.split("|", 2)
            ts = await self.slack.find_posted(channel_p, item.id, float(since or 0) - HISTORY_SLACK)
            if ts is not None:
                self.stats.repaired += 1
                log.info("repaired a delivery from channel history", extra={"item": item.id})
                return item.id, f"{channel_p}|{ts}|{item.version}"
        channel_id = await channel_of()
        for attempt in range(2):
            if not dm:  # a DM is no channel: nobody from another organisation is in it
                await self._refuse_shared(channel_id, item)
            # The pending mark must survive a failover: were it lost with a master that died after the
            # post, the item would be posted again. So it is on a replica (with the outbox item and the
            # lease before it) before the post, or the post waits (write_replicated).
            mark = f"{PENDING}|{channel_id}|{self.clock():.3f}"
            if await write_replicated(redis, relayed_key, "HSET", relayed_key, item.id, mark) == 0:
                raise RetryLater(0, "no Redis replica acknowledged the pending mark")
            try:
                ts = await self.slack.post(channel_id, text=item.text, blocks=item.blocks, item_id=item.id,
                                           case_id=item.case_id, role=item.role)
            except ChannelUnavailable as exc:
                if dm:  # the DM channel went away: open it again next time
                    await self.notify.forget_person_only(item.to if "@" in item.to else "id:" + item.to)
                    raise RetryLater(0, f"dm {exc.error}") from None
                if item.op in ("feed", "digest") or attempt:
                    raise RetryLater(0, f"channel {exc.error}") from None
                await self._repair_channel(item, exc.error)
                channel_id = await self._ensure_channel(item)
                continue
            await self.after_post(item)
            self.stats.posted += 1
            return item.id, f"{channel_id}|{ts}|{item.version}"
        raise RetryLater(0, "channel unavailable")

    async def _repair_channel(self, item: Delivery, error: str) -> None:
        if error == "is_archived":
            await channels.mark_archived(self.runtime, item.case_id)
        elif error == "channel_not_found":
            await channels.forget_channel(self.runtime, item.case_id)

    async def _update(self, item: Delivery) -> tuple[str, str] | None:
        chat_id = item.id.split(":", 1)[1].split("@", 1)[0]
        target = f"chat:{chat_id}"
        current = await hget(self.store.redis, self.store.keys.relayed(item.case_id), target)
        record = parse_record(current)
        if record is None:
            self.stats.skipped += 1  # never posted (baseline): nothing to update
            return None
        channel_id, ts, version = record
        if version == item.version:
            self.stats.skipped += 1
            return None
        await self._refuse_shared(channel_id, item)
        try:
            await self.slack.update(channel_id, ts, text=item.text, blocks=item.blocks, item_id=target,
                                    case_id=item.case_id, role=item.role)
        except ChannelUnavailable as exc:
            if exc.error != "is_archived":
                raise RetryLater(0, f"channel {exc.error}") from None
            await channels.mark_archived(self.runtime, item.case_id)
            await self._ensure_channel(item)
            await self.slack.update(channel_id, ts, text=item.text, blocks=item.blocks, item_id=target,
                                    case_id=item.case_id, role=item.role)
        self.stats.updated += 1
        return target, f"{channel_id}|{ts}|{item.version}"
