"""`POST /debitura/webhooks`: verify, dedupe, ask for a fetch of the case, answer at once.

The answer never waits for Debitura or Slack: it costs five Redis round trips. The fetch is
done by whichever relay process claims the case first: this one is nudged so it starts at once, and
the others through the workspace's wake-up channel (bot/relay/wakeup.py; a lost wake-up leaves the
fetch to their idle poll).

Answers: 200 `{"status": "queued"|"duplicate"|"ignored"}`, 400 for a body that is not an event,
401 for a missing/bad/stale signature, 503 when no webhook secret is configured or Redis cannot be
reached, or (a Redis Cluster whose master has a replica) no replica acknowledged the event in time
(Debitura retries the delivery; one log line, no traceback).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from bot.debitura.webhooks import InvalidSignature, parse_event, verify_any
from bot.relay.store import RelayStore
from bot.relay.wakeup import publish_wake
from bot.store.cases import Want
from bot.store.webhooks import WebhookStore

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.relay.service import Relay
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-debitura-signature"
UNCONFIRMED = "unconfirmed"
"""take_in's outcome when the event was queued but no Redis replica acknowledged it (answered 503)."""

EVENT_BITS: dict[str, Want] = {
    "chat.created": Want.CHATS,
    "case.updated": Want.CASE | Want.TIMELINE,
    "case.closed": Want.CASE,
    "case.assigned": Want.CASE | Want.POLL,
    "payment.created": Want.CASE | Want.PAYMENTS,
    "payment.deleted": Want.CASE | Want.PAYMENTS,
}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def delivery_secrets(settings: Settings) -> list[str]:
    """The secrets a delivery may be signed with: the live subscription's (DEBITURA_WEBHOOK_SECRET), then
    the test-mode subscription's (DEBITURA_WEBHOOK_TEST_SECRET: Debitura gives each subscription its own
    and sends test cases' events only to test-mode ones)."""
    return [s.get_secret_value() for s in (settings.debitura_webhook_secret,
                                           settings.debitura_webhook_test_secret) if s is not None]


async def handle_webhook(
    runtime: Runtime, relay: Relay | None, body: bytes, headers: Mapping[str, str]
) -> tuple[int, dict[str, Any]]:
    metrics = runtime.metrics
    secret = runtime.settings.debitura_webhook_secret
    if secret is None:
        return 503, {"error": "webhooks_not_configured", "message": "DEBITURA_WEBHOOK_SECRET is not set"}
    try:
        verify_any(delivery_secrets(runtime.settings), _header(headers, SIGNATURE_HEADER), body)
    except InvalidSignature as exc:
        reason = "stale" if exc.reason in ("stale", "future") else "signature"
        metrics.rejected.labels(door="webhook", reason=reason).inc()
        log.warning("webhook refused: %s", exc.reason)
        return 401, {"error": "invalid_signature"}
    except ValueError:
        log.error("DEBITURA_WEBHOOK_SECRET is not valid base64; every webhook is refused")
        return 401, {"error": "invalid_signature"}
    try:
        event = parse_event(body)
    except ValueError as exc:
        metrics.rejected.labels(door="webhook", reason="bad_body").inc()
        return 400, {"error": "bad_event", "message": str(exc)}
    name = event.event or "unknown"
    label = name if name in EVENT_BITS else "other"
    case_id = event.case_id
    if not event.id or not case_id:
        metrics.webhooks.labels(event=label, outcome="ignored").inc()
        return 200, {"status": "ignored", "reason": "no event id or case id"}
    try:
        return await _queue(runtime, relay, event.id, case_id, name, label)
    except (RedisError, OSError) as exc:
        metrics.webhooks.labels(event=label, outcome="unavailable").inc()
        log.warning("webhook %s for case %s not queued, Redis unavailable (%s): answered 503, Debitura "
                    "retries", event.id, case_id, type(exc).__name__)
        return 503, {"error": "unavailable", "message": "try again later"}


async def _queue(
    runtime: Runtime, relay: Relay | None, event_id: str, case_id: str, name: str, label: str
) -> tuple[int, dict[str, Any]]:
    store = relay.store if relay is not None else RelayStore(runtime.redis, runtime.keys)
    outcome = await take_in(runtime, store, event_id, case_id, name)
    runtime.metrics.webhooks.labels(event=label, outcome=outcome).inc()
    if outcome == "ignored":
        return 200, {"status": "ignored", "reason": f"event {name} is not relayed"}
    if outcome in ("queued", UNCONFIRMED):
        if relay is not None:
            relay.nudge()
        try:
            await publish_wake(runtime.redis, runtime.keys)
        except (RedisError, OSError) as exc:  # queued all the same: the relays' idle poll finds it
            log.info("webhook %s: wake-up not published (%s)", event_id, type(exc).__name__)
    if outcome == UNCONFIRMED:
        log.warning("webhook %s for case %s queued, but no Redis replica acknowledged it: answered 503, "
                    "Debitura retries", event_id, case_id)
        return 503, {"error": "unavailable", "message": "try again later"}
    return 200, {"status": outcome}


async def take_in(runtime: Runtime, store: RelayStore, event_id: str, case_id: str, name: str,
                  via: str = "door") -> str:
    """Take one Debitura event in, whichever way it came (`via`: the webhook door, or the reconciliation
    of the delivery log): "duplicate" when it was taken in before, "ignored" when the relay does not use
    it, else "queued" (a fetch of the case reading what the event touched is asked for; the relay's
    fetch and diff relay each item once however many events point at it). Four Redis round trips, and on
    a Redis Cluster whose master has a replica a WAIT after the last: "unconfirmed" when no replica
    acknowledged the writes in time (a failover now could lose them, so the door answers 503 and
    Debitura's retry finds the event taken: "duplicate", or, if the writes were lost, takes it again)."""
    hooks = WebhookStore(runtime.redis, runtime.keys)
    if not await hooks.take_event(event_id, via):
        return "duplicate"
    bits = EVENT_BITS.get(name)
    if bits is None:
        return "ignored"
    now = time.time()
    try:
        if name == "case.assigned":
            await store.cases.first_seen(case_id, now)
        await store.forget_snapshot(case_id)
        await store.request_fetch(case_id, int(bits), now, source="webhook")
    except Exception:
        # Not queued: let Debitura's retry through the dedupe (if Redis answers for that).
        with contextlib.suppress(Exception):
            await hooks.release_event(event_id)
        raise
    # The marker says the fetch is asked for (what `caseroom smoke` waits for before it looks at the
    # relay's state); the fetch does not need it, but the door's answer waits for a replica to hold it
    # and every write before it.
    try:
        replicas = await hooks.queued(event_id, via)
    except (RedisError, OSError):
        if via == "door":
            raise  # 503: Debitura's retry is a duplicate, or, if the master died with the writes, taken in
        return "queued"
    return UNCONFIRMED if replicas == 0 and via == "door" else "queued"
