"""What every write started from a modal shares: its result, its derived key, and the once-only guard.

- `WriteResult`: what the person is shown when the write is over (mrkdwn text, Debitura's
  `warnings[]`, detail lines) and whether it succeeded. JSON round-trips through Redis.
- `derive_key()`: the Idempotency-Key of a submitted form: sha256 of kind, view id, case id and the
  normalised form values. A double click or Slack retrying the same submission derives the same key;
  a new modal (new view id) or a changed value derives another.
- `run_once()`: a Redis `SET NX` on `Keys.write_outcome(key)` so a second submission that arrives
  while the first is in flight does not call Debitura again; it waits for the first one's result
  and shows the same. A failure releases the key (a fixed retry may run); a success is kept for
  `IDEMPOTENCY_TTL`.
- `write_through()`: the skeleton of a write with no idempotency on the API (notes, close, start,
  fees): call Debitura; on `OutcomeUnknown` re-read (`Reread`) and tell from what is there whether
  it was applied; audit what was applied (`Audit`); return the `WriteResult`.

Debitura itself honours the key on payments and chats; for notes, close, start and fees (no
idempotency on the API) the guard is all that stops a duplicate, and an `OutcomeUnknown` is
resolved by re-reading the case or its timeline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from blocks.parse import form_fingerprint
from bot.debitura.errors import DebituraError, OutcomeUnknown
from bot.services import audit
from bot.store.keys import IDEMPOTENCY_TTL

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime
    from bot.store.outcomes import WriteOutcomes

log = logging.getLogger(__name__)

PENDING_PREFIX = "pending:"
PENDING_TTL = 120
"""How long a started write holds its key before another submission may take over (seconds)."""
WAIT_FOR_OTHER = 30.0
POLL_INTERVAL = 0.2
MAX_KEY_LENGTH = 255

@dataclass(frozen=True, slots=True)
class WriteResult:
    """The end of a write, as the person sees it."""

    ok: bool
    text: str
    """mrkdwn, API values already escaped."""
    warnings: Sequence[str] = ()
    """Debitura's `warnings[]`, verbatim (the view escapes them)."""
    details: Sequence[str] = ()
    """Context lines (mrkdwn, escaped)."""
    replayed: bool = False
    """True when this result was recorded by an earlier submission of the same form."""
    data: Mapping[str, str] = field(default_factory=dict)
    """Small facts for the caller (payment id, case closed...)."""

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "text": self.text, "warnings": list(self.warnings),
                           "details": list(self.details), "data": dict(self.data)},
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str, *, replayed: bool = False) -> WriteResult:
        data = json.loads(raw)
        return cls(ok=bool(data["ok"]), text=str(data["text"]),
                   warnings=tuple(str(w) for w in data.get("warnings") or ()),
                   details=tuple(str(d) for d in data.get("details") or ()),
                   data={str(k): str(v) for k, v in (data.get("data") or {}).items()},
                   replayed=replayed)


def derive_key(kind: str, view_id: str, case_id: str, values: Mapping[str, str]) -> str:
    """The Idempotency-Key of one submitted form (at most 255 characters, as the API requires)."""
    if not view_id or not case_id:
        raise ValueError("a derived idempotency key needs the view id and the case id")
    key = f"caseroom-{kind}-{form_fingerprint(kind, view_id, case_id, values)}"
    return key[:MAX_KEY_LENGTH]


class StillRunning(Exception):
    """Another submission of the same form is still being processed after `WAIT_FOR_OTHER` seconds."""


async def run_once(
    runtime: Runtime,
    key: str,
    operation: Callable[[], Awaitable[WriteResult]],
    *,
    wait: float = WAIT_FOR_OTHER,
    poll: float = POLL_INTERVAL,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> WriteResult:
    """Run `operation` at most once per `key` at a time, and replay its successful result.

    - Nobody holds the key: take it (`SET NX`, `PENDING_TTL`), run, store a success for
      `IDEMPOTENCY_TTL`; on a failed result or an exception release the key (and re-raise).
    - A success is stored: return it (`replayed=True`), without calling `operation`.
    - Another submission is running: wait for its outcome; if it fails (key released), try to take
      the key ourselves. Raises `StillRunning` after `wait` seconds.
    """
    outcomes = runtime.stores.outcomes
    token = f"{PENDING_PREFIX}{runtime.process_id}:{uuid.uuid4().hex}"
    waited = 0.0
    while True:
        if await outcomes.claim(key, token, PENDING_TTL):
            break
        current = await outcomes.current(key)
        if current is not None and not current.startswith(PENDING_PREFIX):
            try:
                return WriteResult.from_json(current, replayed=True)
            except (ValueError, KeyError, TypeError):
                log.warning("ignoring a malformed stored write outcome for %s", key)
                await outcomes.forget(key)
                continue
        if current is None:
            continue  # released between our SET and GET: try to take it again
        if waited >= wait:
            raise StillRunning(key)
        await sleep(poll)
        waited += poll
    try:
        result = await operation()
    except BaseException:
        await _release(outcomes, key, token)
        raise
    if result.ok:
        await outcomes.record(key, result.to_json(), IDEMPOTENCY_TTL)
    else:
        await _release(outcomes, key, token)
    return result


async def _release(outcomes: WriteOutcomes, key: str, token: str) -> None:
    try:
        await outcomes.release(key, token)
    except Exception:
        log.exception("could not release the write key %s (it expires in %s s)", key, PENDING_TTL)


# --- the skeleton of a write ---------------------------------------------------------------------

R = TypeVar("R")
S = TypeVar("S")
G = TypeVar("G")


@dataclass(frozen=True, slots=True)
class Audit:
    """What the audit stream records of a write (`bot.services.audit.record_write`)."""

    action: str
    summary: Mapping[str, Any]
    line: str
    """The channel line, after the user's mention (plain text)."""


@dataclass(frozen=True, slots=True)
class Applied:
    """Debitura applied the write: what the person is shown and what the audit records as its result."""

    result: WriteResult
    recorded: Mapping[str, Any]
    line: str | None = None
    """A channel line that says more than `Audit.line` (None: that one)."""


@dataclass(frozen=True, slots=True)
class Reread(Generic[S]):
    """How a write Debitura did not answer is resolved: re-read, and tell whether it is applied.

    The three texts (mrkdwn, escaped) are the result when the re-read fails, shows nothing applied,
    or confirms the write."""

    what: str
    """What is re-read, for the log ("the case", "the timeline")."""
    read: Callable[[], Awaitable[S]]
    applied: Callable[[S], bool]
    unreadable: str
    not_applied: str
    confirmed: str
    resolved: str = "case re-read"
    """The audit result of a write confirmed by the re-read."""


async def write_through(runtime: Runtime, *, case: Case, user_id: str, audit_as: Audit,
                        send: Callable[[], Awaitable[R]], done: Callable[[R], Applied | G],
                        reread: Reread[S]) -> WriteResult | G:
    """Call Debitura once (`send`); on OutcomeUnknown re-read; audit what was applied; the result.

    `done` turns Debitura's answer into `Applied`, or into anything else that applied nothing (the
    fees' price-change gate), which is returned as it is, unaudited. Debitura's other errors propagate.
    """
    try:
        response = await send()
    except OutcomeUnknown:
        log.warning("%s on case %s: outcome unknown; re-reading %s", audit_as.action, case.id, reread.what)
        try:
            fresh = await reread.read()
        except DebituraError:
            return WriteResult(ok=False, text=reread.unreadable)
        if not reread.applied(fresh):
            return WriteResult(ok=False, text=reread.not_applied)
        await _record(runtime, case, user_id, audit_as, {"resolved": reread.resolved}, audit_as.line)
        return WriteResult(ok=True, text=reread.confirmed)
    outcome = done(response)
    if not isinstance(outcome, Applied):
        return outcome
    await _record(runtime, case, user_id, audit_as, outcome.recorded, outcome.line or audit_as.line)
    return outcome.result


async def _record(runtime: Runtime, case: Case, user_id: str, audit_as: Audit, result: Mapping[str, Any],
                  line: str) -> None:
    await audit.record_write(runtime, user_id=user_id, action=audit_as.action, case_id=case.id,
                             case_reference=case.reference, summary=audit_as.summary, result=result,
                             line=line)
