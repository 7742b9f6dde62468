"""What `caseroom smoke` leaves to clean up: one record per run, written before it creates anything in
Debitura and removed once its test case is deleted and its channel archived, so a run that was killed
half way is cleaned up by the next one (key `smoke_runs`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import redis.asyncio as aioredis

from bot.store.keys import Keys
from bot.store.reads import hgetall


@dataclass(frozen=True, slots=True)
class SmokeRun:
    run_id: str
    tag: str
    marker: str
    """Our reference on the test case (its creditorReference): finds the case when the run was killed
    before Debitura's answer (with the case id) came back."""
    case_id: str = ""
    reference: str = ""
    started: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> SmokeRun | None:
        try:
            data = json.loads(raw)
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except (ValueError, TypeError, KeyError):
            return None


class SmokeStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def save(self, run: SmokeRun) -> None:
        await self.redis.hset(self.keys.smoke_runs(), run.run_id, run.to_json())

    async def runs(self, tag: str | None = None) -> list[SmokeRun]:
        out: list[SmokeRun] = []
        for raw in (await hgetall(self.redis, self.keys.smoke_runs())).values():
            run = SmokeRun.from_json(raw)
            if run is not None and (tag is None or run.tag == tag):
                out.append(run)
        return sorted(out, key=lambda r: r.started)

    async def done(self, run_id: str) -> None:
        await self.redis.hdel(self.keys.smoke_runs(), run_id)
