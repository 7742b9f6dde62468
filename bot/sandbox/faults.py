"""Fault injection per endpoint pattern, set through the control API or `--fault`.

A rule matches a request by method (`*` for any) and an fnmatch pattern on the path
(`/cases/*/chats`). For each matching request, in order: wait `latencyMs` plus up to `jitterMs`;
drop the connection with probability `dropRate`; answer 500 with probability `errorRate`;
answer 429 with probability `rateLimitRate`. `holdMs` delays a write while it holds its
Idempotency-Key (to reach the documented 409 "in flight"). `times` limits how many requests the
rule affects (None: unlimited). Draws come from a seeded random stream per rule.
"""

from __future__ import annotations

import fnmatch
import random
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FaultRule:
    path: str = "*"
    method: str = "*"
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    drop_rate: float = 0.0
    hold_ms: float = 0.0
    retry_after: float = 1.0
    times: int | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    hits: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.id)
        self.method = self.method.upper()
        for name in ("error_rate", "rate_limit_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in ("latency_ms", "jitter_ms", "hold_ms", "retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.times is not None and self.times < 0:
            raise ValueError("times must not be negative")

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return (self.method in ("*", method.upper())) and fnmatch.fnmatchcase(path, self.path)

    def draw(self) -> float:
        return self._rng.random()

    def delay(self) -> float:
        return (self.latency_ms + (self._rng.random() * self.jitter_ms if self.jitter_ms else 0.0)) / 1000

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "method": self.method,
            "latencyMs": self.latency_ms,
            "jitterMs": self.jitter_ms,
            "errorRate": self.error_rate,
            "rateLimitRate": self.rate_limit_rate,
            "dropRate": self.drop_rate,
            "holdMs": self.hold_ms,
            "retryAfter": self.retry_after,
            "times": self.times,
            "hits": self.hits,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        mapping = {
            "path": "path",
            "method": "method",
            "latencyms": "latency_ms",
            "jitterms": "jitter_ms",
            "errorrate": "error_rate",
            "ratelimitrate": "rate_limit_rate",
            "droprate": "drop_rate",
            "holdms": "hold_ms",
            "retryafter": "retry_after",
            "times": "times",
        }
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            attr = mapping.get(key.lower())
            if attr is None:
                raise ValueError(f"unknown fault field {key!r}")
            if attr in ("path", "method"):
                if not isinstance(value, str) or not value:
                    raise ValueError(f"{key} must be a non-empty string")
            elif attr == "times":
                if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                    raise ValueError("times must be an integer or null")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{key} must be a number")
            kwargs[attr] = value
        return cls(**kwargs)

    @classmethod
    def parse_flag(cls, text: str) -> FaultRule:
        """`--fault 'GET /cases/*:latency=200,jitter=50,error=0.1,429=0.2,drop=0.05,hold=0,times=3'`."""
        target, _, opts = text.partition(":")
        parts = target.split()
        method, path = (parts[0], parts[1]) if len(parts) == 2 else ("*", target.strip())
        names = {
            "latency": "latencyMs",
            "jitter": "jitterMs",
            "error": "errorRate",
            "429": "rateLimitRate",
            "drop": "dropRate",
            "hold": "holdMs",
            "times": "times",
            "retryafter": "retryAfter",
        }
        data: dict[str, Any] = {"method": method, "path": path}
        for item in filter(None, (o.strip() for o in opts.split(","))):
            key, _, value = item.partition("=")
            if key.strip().lower() not in names:
                raise ValueError(f"unknown fault option {key!r} (use {', '.join(names)})")
            name = names[key.strip().lower()]
            data[name] = int(value) if name == "times" else float(value)
        return cls.from_json(data)


class Faults:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def match(self, method: str, path: str) -> list[FaultRule]:
        return [r for r in self.rules if r.matches(method, path)]
