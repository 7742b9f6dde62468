"""How the last Debitura listing of each kind ended, kept in Redis for `caseroom check`.

The client reports every full listing (`DebituraClient.on_listing_end`): one cut short (a repeated
page, or MAX_PAGES) is written under its name; one that ends normally removes it, so what is stored
is always "the last listing of this kind was truncated".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from bot.debitura.client import ListingEnd

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from bot.store.keys import Keys


@dataclass(frozen=True, slots=True)
class TruncatedListing:
    listing: str
    reason: str
    pages: int
    at: float


async def record_listing_end(redis: aioredis.Redis, keys: Keys, end: ListingEnd, *,
                             clock: Callable[[], float] = time.time) -> None:
    key = keys.listing_truncated()
    if end.truncated is None:
        await redis.hdel(key, end.listing)
        return
    value = json.dumps({"reason": end.truncated.value, "pages": end.pages, "at": round(clock(), 3)})
    await redis.hset(key, end.listing, value)


async def truncated_listings(redis: aioredis.Redis, keys: Keys) -> list[TruncatedListing]:
    """The listings whose last run was cut short, by name (unreadable entries are skipped)."""
    raw = cast(dict[str, str], await redis.hgetall(keys.listing_truncated()))
    out: list[TruncatedListing] = []
    for listing, value in sorted(raw.items()):
        try:
            data = json.loads(value)
            out.append(TruncatedListing(str(listing), str(data["reason"]), int(data["pages"]),
                                        float(data["at"])))
        except (ValueError, KeyError, TypeError):
            continue
    return out
