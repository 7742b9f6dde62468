"""Typed Redis reads shared by every part (the client is built with decode_responses=True, so every
value is a str). The stores (`bot.store.*`) and the relay's `RelayStore` read through these."""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis


async def hgetall(redis: aioredis.Redis, key: str) -> dict[str, str]:
    return cast(dict[str, str], await redis.hgetall(key))


async def get(redis: aioredis.Redis, key: str) -> str | None:
    return cast("str | None", await redis.get(key))


async def hget(redis: aioredis.Redis, key: str, field: str) -> str | None:
    return cast("str | None", await redis.hget(key, field))


async def zmembers(redis: aioredis.Redis, key: str, low: float | str, high: float | str,
                   num: int | None = None) -> list[str]:
    if num is None:
        return cast(list[str], await redis.zrangebyscore(key, low, high))
    return cast(list[str], await redis.zrangebyscore(key, low, high, start=0, num=num))
