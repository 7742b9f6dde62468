"""What guards the two public doors (`POST /slack/events`, `POST /debitura/webhooks`) before any work.

Order at each door: the signature headers are looked at first (missing or malformed: 401 without
reading the body; a Slack timestamp outside the 5-minute window: 401 too), then the body is read as a
stream with a hard cap (413 the moment the cap is passed: never more than the cap is held), then the
signature is checked over the raw bytes, and only then is the body decoded and parsed (a signed body
that does not parse: 400). A refused request adds nothing to /metrics but one counter,
`caseroom_requests_rejected_total{door, reason}` (every series exists from the start), and at most one
log line per door and reason a minute (`LogLimiter`), with the count of the lines it held back.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from starlette.requests import Request

MAX_SLACK_BODY = 1024 * 1024
"""1 MiB. Slack documents no size for the requests it sends; its largest are view submissions (a view is
at most 250 kB of JSON, sent url-encoded in the `payload` field: at most 3 bytes per byte, 750 kB) and
message events (text at most 40,000 characters). Caseroom's own views are far smaller."""
MAX_WEBHOOK_BODY = 1024 * 1024
"""1 MiB. A Debitura webhook event is a JSON envelope of a few hundred bytes (ids and an event name)."""
SLACK_TOLERANCE = 300
"""Slack: refuse a request whose X-Slack-Request-Timestamp is more than 5 minutes from now."""
LOG_INTERVAL = 60.0
"""Seconds between two log lines about the same kind of refused request."""
FREE_BODY_BYTES = 16 * 1024
"""The first 16 KiB of every request body are read without asking the shared budget: every Debitura
event and nearly every Slack request fits, so they never wait for or lose to a flood of large bodies."""
BODY_BUDGET = 4 * 1024 * 1024
"""Bytes past FREE_BODY_BYTES that all requests at the doors may hold together (4 MiB: four bodies at
the cap). A request that would go over it is answered 503 at once (Retry-After), not queued, so a
flood of large uploads holds at most BODY_BUDGET + FREE_BODY_BYTES per connection."""


class Door(StrEnum):
    SLACK = "slack"
    WEBHOOK = "webhook"


class Reason(StrEnum):
    """Why a door refused a request (the `reason` label; bot.metrics.REJECT_REASONS)."""

    SIGNATURE = "signature"
    STALE = "stale"
    TOO_LARGE = "too_large"
    BAD_BODY = "bad_body"
    BUSY = "busy"


class TooLarge(Exception):
    """The request body is over the cap (declared in Content-Length, or counted while streaming)."""


class Busy(Exception):
    """The shared body budget is spent by other requests: answer 503 and let the sender retry."""


class BodyBudget:
    """Bytes of request bodies past each request's free part, held by all requests at the doors together."""

    def __init__(self, total: int = BODY_BUDGET, free: int = FREE_BODY_BYTES) -> None:
        self.total = total
        self.free = free
        self.used = 0

    def take(self, n: int) -> bool:
        if self.used + n > self.total:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        self.used -= n


async def read_capped(request: Request, cap: int, budget: BodyBudget | None = None) -> bytes:
    """The request body, read chunk by chunk; raises TooLarge as soon as more than `cap` bytes came.

    A Content-Length over the cap is refused before reading anything; a chunked body (no length) is
    counted as it arrives, and the stream is left unread past the chunk that crossed the cap. With a
    `budget`, bytes past its free part are taken from it as they arrive (Busy when it is spent) and
    given back when the read ends. Raises starlette.requests.ClientDisconnect when the client goes away.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > cap:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    taken = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise TooLarge
            if budget is not None and size > budget.free:
                more = size - budget.free - taken
                if not budget.take(more):
                    raise Busy
                taken += more
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        if budget is not None:
            budget.give(taken)


def slack_timestamp_reason(headers: Mapping[str, str], now: float) -> Reason | None:
    """Header-only checks of a Slack request, before its body is read.

    Missing or malformed X-Slack-Signature / X-Slack-Request-Timestamp: SIGNATURE; a timestamp more
    than SLACK_TOLERANCE seconds from now: STALE. None: read the body and check the signature.
    """
    timestamp = headers.get("x-slack-request-timestamp", "").strip()
    signature = headers.get("x-slack-signature", "").strip()
    if not signature.startswith("v0=") or not (timestamp.isascii() and timestamp.isdigit()):
        return Reason.SIGNATURE
    if len(timestamp) > 12 or abs(now - int(timestamp)) > SLACK_TOLERANCE:
        return Reason.STALE
    return None


def slack_signature_ok(signing_secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """X-Slack-Signature is "v0=" + hex HMAC-SHA256(signing secret, "v0:{timestamp}:{raw body}").

    The same computation as slack_sdk's SignatureVerifier, over the raw bytes (so a body that is not
    UTF-8 is checked too, and refused only after, as a bad body). Constant-time comparison.
    """
    timestamp = headers.get("x-slack-request-timestamp", "").strip()
    given = headers.get("x-slack-signature", "").strip()
    mac = hmac.new(signing_secret.encode(), b"v0:" + timestamp.encode("ascii") + b":" + body, hashlib.sha256)
    expected = ("v0=" + mac.hexdigest()).encode("ascii")
    return hmac.compare_digest(expected, given.encode("latin-1", errors="replace"))


_OBJECTS = ("event", "view", "container", "message", "state")
_LISTS_OF_OBJECTS = ("actions", "authorizations")
_IDS = ("user", "team", "channel", "enterprise")


def slack_envelope_ok(body: Any) -> bool:
    """The top level of a parsed Slack request has the shape Bolt reads without checking.

    Bolt calls `.get` on `event`, `view`... and indexes `actions[0]`; a signed body where one of them is
    a string or a number would crash inside Bolt (a 500 and a traceback). Slack never sends those.
    """
    if not isinstance(body, dict):
        return False
    for key in _OBJECTS:
        if key in body and not isinstance(body[key], dict):
            return False
    for key in _LISTS_OF_OBJECTS:
        if key in body and not (isinstance(body[key], list) and all(isinstance(v, dict) for v in body[key])):
            return False
    return all(body.get(key) is None or isinstance(body[key], str | dict) for key in _IDS)


class LogLimiter:
    """At most one log line per key every `interval` seconds; the next one says how many were held back.

    Keys come from closed sets (door and reason, health check names), so the table stays small.
    """

    def __init__(
        self, logger: logging.Logger, interval: float = LOG_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def log(self, level: int, key: str, message: str) -> bool:
        """Log `message` unless a line with this key was logged less than `interval` ago. True if logged."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        held = self._held.pop(key, 0)
        self._last[key] = now
        if held:
            message += f" ({held} more like it since the last line)"
        self.logger.log(level, "%s", message)
        return True

    def warning(self, key: str, message: str) -> bool:
        return self.log(logging.WARNING, key, message)
