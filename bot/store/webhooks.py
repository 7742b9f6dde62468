"""What Caseroom knows of Debitura's webhook deliveries: which events it has taken in, how far each
subscription's delivery log has been reconciled, and the subscriptions' state as last read.

Keys (bot/store/keys.py): `webhook_seen(event id)` (a dedupe marker, WEBHOOK_EVENT_DEDUPE_TTL: the
webhook door and the reconciliation both take an event in through `take_event`, so an event is
queued once whichever way it arrives), `webhook_cursor` (subscription id -> unix seconds reconciled
up to), `webhook_subscriptions` (subscription id -> JSON `SubscriptionState`), `webhook_reconcile`
(the last run's figures, for `caseroom check` and the benchmark).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import cast

import redis.asyncio as aioredis

from bot.store.connect import write_replicated
from bot.store.keys import WEBHOOK_EVENT_DEDUPE_TTL, Keys
from bot.store.reads import hgetall

QUEUED = "queued"


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """A webhook subscription as the relay last read it from GET /webhooks."""

    id: str
    url: str = ""
    active: bool = True
    reason: str = ""
    """Debitura's `disabledReason` while inactive (e.g. disabled after failed deliveries)."""
    test_mode: bool = False
    inactive_since: float = 0.0
    """When the relay first saw it inactive (0: active at every reading since the last reconciliation).
    Events of an inactive subscription leave no row in the delivery log, so the reconciliation fetches
    every changed case of that window instead; the mark is cleared once a run covered it while active."""
    read_at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> SubscriptionState | None:
        try:
            data = json.loads(raw)
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except (ValueError, TypeError, KeyError):
            return None


class WebhookStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    # --- events taken in (door and reconciliation share the marker) ---------------------------------
    async def take_event(self, event_id: str, via: str = "door") -> bool:
        """True the first time `event_id` is taken in (then it must be queued), False for a repeat. The
        marker says which way it came (`via`: "door" or "reconcile")."""
        return bool(await self.redis.set(self.keys.webhook_seen(event_id), via, nx=True,
                                          ex=WEBHOOK_EVENT_DEDUPE_TTL))

    async def release_event(self, event_id: str) -> None:
        """Undo `take_event` (the event could not be queued: its redelivery must get through)."""
        await self.redis.delete(self.keys.webhook_seen(event_id))

    async def queued(self, event_id: str, via: str = "door") -> int | None:
        """The event's fetch is asked for (after `take_event`): the marker becomes "<via>:queued". Returns
        how many replicas hold it and every write before it (`write_replicated`: None when there is no
        replica to wait for, 0 when none acknowledged it in time)."""
        key = self.keys.webhook_seen(event_id)
        return await write_replicated(self.redis, key, "SET", key, f"{via}:{QUEUED}", "XX", "KEEPTTL")

    async def event_taken(self, event_id: str) -> bool:
        return bool(await self.redis.exists(self.keys.webhook_seen(event_id)))

    async def event_marker(self, event_id: str) -> str | None:
        """How the event was taken in: "door" / "reconcile" (taken, its fetch being asked for),
        "door:queued" / "reconcile:queued" (its fetch asked for), "1" (an older Caseroom), None (never)."""
        return cast("str | None", await self.redis.get(self.keys.webhook_seen(event_id)))

    # --- cursors ------------------------------------------------------------------------------------
    async def cursors(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for sub_id, value in (await hgetall(self.redis, self.keys.webhook_cursor())).items():
            try:
                out[sub_id] = float(value)
            except ValueError:
                continue
        return out

    async def advance(self, sub_ids: Iterable[str], to: float) -> None:
        """Move the cursors of `sub_ids` to `to` (never backwards)."""
        current = await self.cursors()
        mapping = {s: f"{to:.3f}" for s in sub_ids if current.get(s, 0.0) < to}
        if mapping:
            await self.redis.hset(self.keys.webhook_cursor(), mapping=mapping)  # type: ignore[arg-type]

    async def forget_cursors(self, keep: Iterable[str]) -> None:
        """Drop the cursors (and states) of subscriptions that no longer exist."""
        keep_set = set(keep)
        gone = [s for s in await self.cursors() if s not in keep_set]
        states = await hgetall(self.redis, self.keys.webhook_subscriptions())
        gone_states = [s for s in states if s not in keep_set]
        if gone:
            await self.redis.hdel(self.keys.webhook_cursor(), *gone)
        if gone_states:
            await self.redis.hdel(self.keys.webhook_subscriptions(), *gone_states)

    # --- subscription states ------------------------------------------------------------------------
    async def subscriptions(self) -> dict[str, SubscriptionState]:
        out: dict[str, SubscriptionState] = {}
        for sub_id, raw in (await hgetall(self.redis, self.keys.webhook_subscriptions())).items():
            state = SubscriptionState.from_json(raw)
            if state is not None:
                out[sub_id] = state
        return out

    async def save_subscriptions(self, states: Iterable[SubscriptionState]) -> None:
        mapping = {s.id: s.to_json() for s in states}
        if mapping:
            await self.redis.hset(self.keys.webhook_subscriptions(), mapping=mapping)  # type: ignore[arg-type]

    # --- the last run's figures ---------------------------------------------------------------------
    async def record_run(self, figures: Mapping[str, str | int | float]) -> None:
        key = self.keys.webhook_reconcile()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={k: str(v) for k, v in figures.items()})
            await pipe.execute()

    async def last_run(self) -> dict[str, str]:
        return await hgetall(self.redis, self.keys.webhook_reconcile())
