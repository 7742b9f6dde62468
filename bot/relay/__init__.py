"""The relay: case events from Debitura into per-case Slack channels, exactly once, within budget.

Entry points (for bot/server.py and bot/web.py):

* ``bot.relay.Relay(runtime)`` (defined in ``bot.relay.service``): ``await relay.start()``,
  ``await relay.stop(graceful=True)`` (stops claiming work, lets in-flight Slack deliveries finish and
  be recorded, releases leases; at most ``CASEROOM_RELAY_LEASE`` s of work is left to other
  processes), ``relay.health() -> dict`` (JSON-able: running, tasks alive, Redis ok, staleness bound
  and held, cases watched, budget), ``relay.staleness_bound`` (seconds), ``relay.nudge()``.
* ``bot.relay.webhooks.handle_webhook(runtime, relay, body: bytes, headers: Mapping[str, str])
  -> tuple[int, dict]`` for ``POST /debitura/webhooks``; ``relay`` may be None (the fetch is queued
  in Redis and any relay process picks it up). Answers 401 on a bad signature, 503 without a secret.
* ``bot.relay.budget.RedisRateLimiter(redis, keys, settings, metrics)``: the shared Debitura budget;
  ``await limiter.usage()`` for ``caseroom check``.
* ``bot.relay.marks.follow_case(runtime, case_id)`` / ``unfollow_case`` for ``/case follow``, and
  ``bot.relay.marks.mark_chat_sent(runtime, case_id, chat_id, version)`` for the chat modal, so a
  chat written from Slack is not relayed back into the channel.
* ``bot.relay.status.relay_status(runtime)`` for ``caseroom check``: budget use, watched cases,
  the staleness bound the budget can hold, queue depth, live relay processes.

Delivery semantics are written down in docs/DELIVERY.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.relay.service import Relay, RelayOptions

__all__ = ["Relay", "RelayOptions"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing bot.relay.budget (the runtime does) stays light.
    if name in ("Relay", "RelayOptions"):
        from bot.relay import service

        return getattr(service, name)
    raise AttributeError(f"module 'bot.relay' has no attribute {name!r}")
