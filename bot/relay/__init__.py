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
* ``bot.relay.reconcile.Reconciler`` (run by the Relay at start and every
  ``CASEROOM_WEBHOOK_RECONCILE_INTERVAL``, one process at a time): Debitura's webhook delivery log
  read for the cases changed since the last run; missed events taken in as the door would.
* ``bot.relay.status.relay_status(runtime)`` for ``caseroom check``: budget use, watched cases,
  the staleness bound the budget can hold, queue depth, live relay processes.

What other parts tell the relay goes through the stores, not through this package:
``runtime.stores.follows.follow(case_id)`` / ``unfollow`` for ``/case follow`` and
``runtime.stores.cases.mark_chat_sent(case_id, chat_id, version)`` for the chat modal (bot/store/).
The shared Debitura budget is ``bot.store.budget.RedisRateLimiter``; Slack pacing and the case
channels are the Slack gateway's (bot/slack/). The relay imports them; nothing below imports the relay.

Delivery semantics are written down in docs/DELIVERY.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.relay.service import Relay, RelayOptions

__all__ = ["Relay", "RelayOptions"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing a relay module (bot.check imports bot.relay.status) stays light.
    if name in ("Relay", "RelayOptions"):
        from bot.relay import service

        return getattr(service, name)
    raise AttributeError(f"module 'bot.relay' has no attribute {name!r}")
