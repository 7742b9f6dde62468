"""`caseroom smoke`: prove an installation end to end against Debitura (or the sandbox) with a throwaway
test case, without touching a real debtor.

It runs beside a running Caseroom (`caseroom run` or `caseroom relay` with the web door), with the same
settings: the same Debitura key, Redis (and prefix) and Slack bot token. What it writes goes through
Caseroom's own services; what it checks is what the running relay and webhook door leave in Redis and
Slack. The steps, one line each with the time it took:

 1. cleanup        leftovers of earlier runs of the tag (recorded in Redis before anything is created, so
                   a run killed at any step is found): their channels archived, `DELETE /test/cases?tag=`
 2. relay          a relay process has a heartbeat in this Redis
 3. webhooks       an active test-mode webhook subscription (Debitura sends test cases' events only to
                   those) and a secret for it
 4. user           the Slack user the chat and note are written as is a Debitura team member
 5. create         `POST /managed-cases` (IsTest, the tag, CollectionPartnerId = us from GET /me); the
                   case is read back and must be a test case assigned to us: nothing is written to any
                   other case, ever (cleanup only uses the test-case endpoints, which refuse others)
 6. follow         `/case follow`'s service: the case channel appears in Slack
 7. activate       `POST /test/cases/{id}/advance` to Active
 8. chat, note     Caseroom's chat and note services, in the user's name
 9. chat.created   fired (`POST /test/webhooks/fire`); Debitura's delivery log must show it delivered,
                   the webhook door must have taken it in, and the relay must have fetched the case
10. payment        a test payment (`POST /managed-cases/{id}/payments`, a creditor-side write)
11. payment.created  fired; through the door, and the relay posts the payment in the case channel
12. close          advance to Closed:NoPayment; the relay sees the case closed
13. cleanup        delete the tag's test cases, archive the channel (unless --keep)

A webhook that does not reach Caseroom is reported with the URL Debitura calls and what Debitura saw
(its delivery log: HTTP status or error), or what Caseroom saw. Exit status: 0 when every step passed,
1 on a failure, 130/143 when interrupted (SIGINT/SIGTERM: the cleanup still runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError

from blocks.parse import ChatForm, NoteForm
from bot.debitura.errors import ApiError, BadRequest, DebituraError, NotFound
from bot.debitura.models import (
    AdvanceTarget,
    Case,
    CreateManagedCasePaymentRequest,
    CreateManagedCaseRequest,
    DebtorType,
    FireWebhookRequest,
    ManagedCaseDebtor,
    Webhook,
    WebhookEventRecord,
)
from bot.relay.status import relay_status
from bot.relay.store import RelayStore
from bot.services import casework, chats, identity, notes
from bot.services.errors import CaseroomError
from bot.slack.channels import archive_case_channel, channel_for_case
from bot.slack.errors import slack_error
from bot.store.cases import CaseStateStore, Want
from bot.store.smoke import SmokeRun, SmokeStore
from bot.store.webhooks import QUEUED, WebhookStore

if TYPE_CHECKING:
    from bot.runtime import Runtime

DEFAULT_TAG = "caseroom-smoke"
DEFAULT_TIMEOUT = 90.0
"""Seconds each wait may take (Debitura fills its delivery log "usually within a few seconds, but allow
up to ~30 seconds"; then the relay fetches and posts)."""
POLL = 0.5
AMOUNT = Decimal("100.00")
PAYMENT = Decimal("10.00")
MARKER_PREFIX = "caseroom-smoke-"
LEFTOVER_PAGES = 5
"""Pages of managed cases searched for a leftover whose id was never learnt (killed mid-create)."""
REAPPLY = 1.0
"""Seconds between the signal's cancel and its repetition while the run has not yet stopped: a
cancellation some library drops (redis-py on Python 3.11 did, see bot/store/connect.py) must not
let the run go on."""

EXIT_OK, EXIT_FAILED, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 130, 143


class StepFailed(Exception):
    """A step did not hold; the message says why, for the admin reading the line."""


class _Crash(BaseException):
    """Tests only: stop dead after a step, as SIGKILL would (no cleanup)."""


@dataclass
class Line:
    ok: bool
    step: str
    seconds: float
    detail: str

    def render(self) -> str:
        mark = "[ ok ]" if self.ok else "[FAIL]"
        return f"{mark} {self.seconds:6.1f}s  {self.step:<16} {self.detail}"


@dataclass
class Target:
    """The test case of this run and what came of it."""

    case: Case
    channel_id: str = ""
    channel_name: str = ""


class Smoke:
    def __init__(self, runtime: Runtime, *, user: str | None = None, tag: str = DEFAULT_TAG,
                 keep: bool = False, timeout: float = DEFAULT_TIMEOUT, out: TextIO | None = None,
                 crash_after: str | None = None) -> None:
        self.runtime = runtime
        self.user_arg = user
        self.tag = tag
        self.keep = keep
        self.timeout = timeout
        self.out = out or sys.stdout
        self.crash_after = crash_after
        self.lines: list[Line] = []
        self.runs = SmokeStore(runtime.redis, runtime.keys)
        self.hooks = WebhookStore(runtime.redis, runtime.keys)
        self.cases = CaseStateStore(runtime.redis, runtime.keys)
        self.relay = RelayStore(runtime.redis, runtime.keys)
        self.run_record: SmokeRun | None = None
        self.target: Target | None = None
        self.user_id = ""
        self.email = ""
        self.subscription: Webhook | None = None
        self.interrupted: str | None = None
        self.stopping = False
        """The run took the interruption in (it now only cleans up): no more cancels."""
        self.payment_id = ""
        self.started = time.monotonic()

    # --- output ------------------------------------------------------------------------------------
    def _say(self, line: Line) -> None:
        self.lines.append(line)
        print(line.render(), file=self.out, flush=True)

    @property
    def failed(self) -> bool:
        return any(not line.ok for line in self.lines)

    async def step(self, name: str, action: Callable[[], Awaitable[str]]) -> None:
        """Run one step; print its line; StepFailed (or any error, in words) ends the run."""
        if self.interrupted and not self.stopping:
            raise asyncio.CancelledError  # the signal's cancel was lost: no step starts after it
        began = time.monotonic()
        try:
            detail = await action()
        except StepFailed as exc:
            self._say(Line(False, name, time.monotonic() - began, str(exc)))
            raise
        except (DebituraError, CaseroomError) as exc:
            self._say(Line(False, name, time.monotonic() - began, _words(exc)))
            raise StepFailed(str(exc)) from None
        except SlackApiError as exc:
            text = f"Slack refused: {slack_error(exc, default='unknown_error')}"
            self._say(Line(False, name, time.monotonic() - began, text))
            raise StepFailed(text) from None
        except (RedisError, OSError) as exc:
            text = f"Redis ({type(exc).__name__}: {exc}); check REDIS_URL"
            self._say(Line(False, name, time.monotonic() - began, text))
            raise StepFailed(text) from None
        self._say(Line(True, name, time.monotonic() - began, detail))
        if self.crash_after == name:
            raise _Crash(name)

    # --- the run -----------------------------------------------------------------------------------
    async def run(self) -> int:
        task = asyncio.current_task()
        try:
            await self.step("cleanup", self.clean_leftovers)
            await self.step("relay", self.check_relay)
            await self.step("webhooks", self.check_webhooks)
            await self.step("user", self.check_user)
            await self.step("create", self.create_case)
            await self.step("follow", self.follow)
            await self.step("activate", self.activate)
            await self.step("chat", self.send_chat)
            await self.step("note", self.add_note)
            await self.step("chat.created", lambda: self.webhook("chat.created", self.chat_relayed))
            await self.step("payment", self.add_payment)
            await self.step("payment.created", lambda: self.webhook("payment.created", self.payment_relayed))
            await self.step("close", self.close)
        except _Crash:
            return EXIT_FAILED
        except StepFailed:
            pass
        except asyncio.CancelledError:
            self.stopping = True
            while task is not None and task.cancelling():
                task.uncancel()  # every cancel the signal made (repeated, or dropped by a library)
            why = self.interrupted or "cancelled"
            self._say(Line(False, "interrupted", time.monotonic() - self.started, f"{why}; cleaning up"))
        self.stopping = True  # a signal from here on cancels nothing: the cleanup runs to its end
        if not self.keep or self.run_record is None:
            with contextlib.suppress(StepFailed):
                await self.step("cleanup", self.clean_this_run)
        else:
            ref = self.target.case.reference if self.target is not None else "?"
            self._say(Line(True, "kept", 0.0, f"test case {ref} and its channel are left for a look "
                                             "(--keep); the next caseroom smoke deletes them"))
        total = time.monotonic() - self.started
        if self.interrupted:
            print(f"smoke interrupted after {total:.1f}s", file=self.out, flush=True)
            return EXIT_SIGTERM if self.interrupted == "SIGTERM" else EXIT_SIGINT
        verdict = "FAILED" if self.failed else "passed"
        print(f"smoke {verdict} in {total:.1f}s", file=self.out, flush=True)
        return EXIT_FAILED if self.failed else EXIT_OK

    def interrupt(self, why: str, task: asyncio.Task[Any] | None) -> None:
        """A signal: stop the run where it is, then clean up (a second signal only gets a word). The
        cancel is repeated every REAPPLY seconds until the run has taken it in."""
        if self.interrupted is not None:
            print("still cleaning up; one moment", file=self.out, flush=True)
            return
        self.interrupted = why
        if task is None:
            return
        loop = asyncio.get_running_loop()

        def cancel() -> None:
            if not self.stopping and not task.done():
                task.cancel()
                loop.call_later(REAPPLY, cancel)

        cancel()

    # --- 1. leftovers --------------------------------------------------------------------------------
    async def clean_leftovers(self) -> str:
        runs = await self.runs.runs(self.tag)
        found = await self._resolve(runs)
        await self._delete_tag()
        archived = 0
        for run in found:
            if run.case_id and await self._retire(run.case_id):
                archived += 1
            await self.runs.done(run.run_id)
        if not runs:
            return f"no leftovers; test cases tagged {self.tag} deleted (if any)"
        return (f"{len(runs)} earlier run(s) cleaned up: their test cases deleted, {archived} channel(s) "
                "archived")

    async def _resolve(self, runs: list[SmokeRun]) -> list[SmokeRun]:
        """Runs killed before Debitura's answer have no case id: look for their marker among our managed
        cases (before the tag is deleted; afterwards nothing could be found)."""
        missing = {run.marker: run for run in runs if not run.case_id}
        out = [run for run in runs if run.case_id]
        page = 1
        while missing and page <= LEFTOVER_PAGES:
            listed = await self.runtime.debitura.list_managed_cases(page=page, page_size=100,
                                                                    sort="DateCreated:desc")
            for case in listed.cases:
                run = missing.pop(case.creditor_reference or "", None)
                if run is not None:
                    out.append(replace(run, case_id=case.id, reference=case.reference or ""))
            if not listed.has_more(page, 100, len(listed.cases)):
                break
            page += 1
        return out + list(missing.values())

    async def _delete_tag(self) -> None:
        try:
            await self.runtime.debitura.delete_test_cases_by_tag(self.tag)
        except BadRequest as exc:
            raise StepFailed(
                f"Debitura refused to delete the test cases tagged {self.tag}: {exc.detail_text()} (a "
                "production case carries the tag? nothing was deleted); use another --tag") from None

    async def _retire(self, case_id: str) -> bool:
        """The relay stops at the case (it is deleted in Debitura), and its channel is archived once the
        relay has nothing left in flight for it (a delivery would bring the channel back). Only a case
        that is gone (deleted with the tag) or a test case is touched: never a production case."""
        try:
            case = await self.runtime.debitura.get_case(case_id)
        except NotFound:
            case = None
        if case is not None and case.is_test_case is not True:
            return False
        await self.runtime.stores.follows.unfollow(case_id)
        async def idle() -> bool:
            return not await self.relay.busy_with(case_id)

        await self._wait(idle)
        return await archive_case_channel(self.runtime, case_id)

    # --- 2-4. preconditions --------------------------------------------------------------------------
    async def check_relay(self) -> str:
        status = await relay_status(self.runtime)
        if status.live_processes < 1:
            raise StepFailed(
                "no relay process has a heartbeat in this Redis (prefix "
                f"{self.runtime.settings.caseroom_redis_prefix}) in the last minute: start `caseroom run` "
                "(or `caseroom relay`) with the same settings first")
        return f"{status.live_processes} relay process(es) running, {status.cases_watched} case(s) watched"

    async def check_webhooks(self) -> str:
        hooks = await self.runtime.debitura.list_webhooks()
        test_hooks = [h for h in hooks if h.is_test_mode]
        create = ("caseroom check --create-webhook https://<public host>/debitura/webhooks --test-mode, "
                  "then set DEBITURA_WEBHOOK_TEST_SECRET to its secret on every Caseroom process")
        if not test_hooks:
            raise StepFailed("no test-mode webhook subscription: Debitura sends test cases' events only to "
                             f"one; create it: {create}")
        active = [h for h in test_hooks if h.is_active is not False]
        if not active:
            hook = test_hooks[0]
            raise StepFailed(
                f"Debitura disabled the test-mode subscription for {hook.url} "
                f"({hook.disabled_reason or 'inactive'}); once Caseroom answers there: "
                "caseroom check --fix-webhooks")
        if self.runtime.settings.debitura_webhook_secret is None:
            raise StepFailed("DEBITURA_WEBHOOK_SECRET is not set: Caseroom's webhook door refuses every "
                             "delivery (set it, and DEBITURA_WEBHOOK_TEST_SECRET to the test-mode "
                             "subscription's secret)")
        self.subscription = active[0]
        more = f" (+{len(active) - 1} more)" if len(active) > 1 else ""
        return f"Debitura calls {active[0].url} for test cases{more}"

    async def check_user(self) -> str:
        wanted = self.user_arg
        if not wanted:
            concrete = [u for u in self.runtime.settings.caseroom_admin_users if u != "*"]
            if len(concrete) != 1:
                raise StepFailed("say who writes the chat and the note: --user <Slack user id or email> (a "
                                 "member of your Debitura team)")
            wanted = concrete[0]
        if "@" in wanted:
            try:
                resp = await self.runtime.slack.users_lookupByEmail(email=wanted)
            except SlackApiError as exc:
                raise StepFailed(f"no Slack user with the email {wanted} "
                                 f"({slack_error(exc, default='unknown_error')})") from None
            user = resp.get("user") or {}
            wanted = str(user.get("id") or "")
        member = await identity.team_member(self.runtime, wanted)
        self.user_id, self.email = wanted, str(member.email or "")
        return f"writes as {self.email} (Slack {wanted})"

    # --- 5. the test case ----------------------------------------------------------------------------
    async def create_case(self) -> str:
        me = await self.runtime.debitura.me()
        if not me.id:
            raise StepFailed("GET /me did not say who we are (no id): cannot assign the test case to us")
        run_id = secrets.token_hex(6)
        record = SmokeRun(run_id=run_id, tag=self.tag, marker=MARKER_PREFIX + run_id, started=time.time())
        await self.runs.save(record)  # before anything exists in Debitura: a kill from here on is found
        self.run_record = record
        today = datetime.now(UTC).date()
        request = CreateManagedCaseRequest(
            creditor_company_name="Caseroom smoke test (not a real creditor)", creditor_country_alpha2="DK",
            currency_code="EUR", date=today - timedelta(days=30), due_date=today - timedelta(days=16),
            comments="Created by `caseroom smoke` to prove the installation; deleted when it ends.",
            creditor_reference=record.marker,
            debtor=ManagedCaseDebtor(type=DebtorType.Company, name="Smoke Test Debtor ApS",
                                     contact_person="Test Person", country_alpha2="DK",
                                     email="smoke-test@example.invalid"),
            amount_to_recover=AMOUNT, is_test=True, tag=self.tag, collection_partner_id=me.id,
        )
        created = await self.runtime.debitura.create_managed_case(request, idempotency_key=record.marker)
        record = replace(record, case_id=created.id, reference=created.reference or "")
        await self.runs.save(record)
        self.run_record = record
        case = await self._assigned(created.id)
        if case.is_test_case is not True:
            raise StepFailed(f"refusing to go on: Debitura did not mark case {case.reference or case.id} as "
                             "a test case (nothing was written to it; it is left as it is)")
        self.target = Target(case=case)
        us = me.company_name or me.id
        return f"test case {case.reference} ({case.id}), tag {self.tag}, assigned to {us}"

    async def _assigned(self, case_id: str) -> Case:
        """The case as an assigned partner reads it (`GET /cases/{id}` answers 404 until Debitura has
        assigned it to us, which it may do a moment after the create)."""
        async def read() -> Case | None:
            try:
                return await self.runtime.debitura.get_case(case_id)
            except NotFound:
                return None

        case: Case | None = await self._wait(read)
        if case is None:
            raise StepFailed(f"Debitura created test case {case_id} but did not assign it to us within "
                             f"{self.timeout:.0f} s (GET /cases/{{id}} answers 404)")
        return case

    def _case(self) -> Case:
        if self.target is None:
            raise StepFailed("no test case")
        return self.target.case

    async def _refresh(self) -> Case:
        case = await self.runtime.debitura.get_case(self._case().id)
        if case.is_test_case is not True:
            raise StepFailed(f"refusing to go on: case {case.reference} is not a test case")
        assert self.target is not None
        self.target.case = case
        return case

    async def follow(self) -> str:
        case = self._case()
        await casework.follow_case(self.runtime, case, user_id=self.user_id)
        channel = await channel_for_case(self.runtime, case.id)
        if channel is None:
            raise StepFailed("following the case made no channel")
        info = await self.runtime.slack.conversations_info(channel=channel.id)
        if (info.get("channel") or {}).get("is_archived"):
            raise StepFailed(f"the case channel #{channel.name} is archived")
        assert self.target is not None
        self.target.channel_id, self.target.channel_name = channel.id, channel.name
        return f"#{channel.name} ({channel.id})"

    async def activate(self) -> str:
        answer = await self.runtime.debitura.advance_test_case(self._case().id, AdvanceTarget.ACTIVE)
        case = await self._refresh()
        if case.lifecycle != "Active":
            raise StepFailed(f"advanced to {answer.state}, but the case reads {_lifecycle(case)}")
        return f"Active (advanced: {answer.advanced})"

    async def send_chat(self) -> str:
        case = self._case()
        marker = self.run_record.marker if self.run_record is not None else MARKER_PREFIX
        form = ChatForm(text=f"Caseroom smoke test chat ({marker}); please ignore.")
        result = await chats.send_chat(
            self.runtime, case=case, form=form, sender_email=self.email, idempotency_key=f"{marker}-chat",
            user_id=self.user_id)
        if not result.ok:
            raise StepFailed(_plain(result.text))
        return f"sent as {self.email} (chat {result.data.get('chat_id', '?')})"

    async def add_note(self) -> str:
        result = await notes.add_note(
            self.runtime, case=self._case(), form=NoteForm(text="Caseroom smoke test note; please ignore."),
            user_id=self.user_id)
        if not result.ok:
            raise StepFailed(_plain(result.text))
        return "added to the timeline"

    async def add_payment(self) -> str:
        case = self._case()
        answer = await self.runtime.debitura.create_managed_case_payment(
            case.id, CreateManagedCasePaymentRequest(date=datetime.now(UTC).date(), payment_amount=PAYMENT))
        if not answer.payment_id:
            raise StepFailed("Debitura recorded the test payment but did not say its id")
        self.payment_id = answer.payment_id
        return f"{PAYMENT} {case.currency or ''} recorded (payment {answer.payment_id})".replace("  ", " ")

    async def close(self) -> str:
        case = self._case()
        answer = await self.runtime.debitura.advance_test_case(case.id, AdvanceTarget.CLOSED_NO_PAYMENT)
        case = await self._refresh()
        if case.lifecycle != "Closed":
            raise StepFailed(f"advanced to {answer.state}, but the case reads {_lifecycle(case)}")
        # The case.updated/case.closed webhooks reach the relay: its stored case says Closed.
        seen = await self._wait(lambda: self._relay_lifecycle_is("Closed"))
        if not seen:
            raise StepFailed("Debitura closed the case, but the relay never saw it closed (its case.closed "
                             f"webhook did not come through{self._door_hint()})")
        return f"{_lifecycle(case)} ({case.close_code.display if case.close_code else 'no close code'})"

    async def _relay_lifecycle_is(self, lifecycle: str) -> bool:
        state = await self.runtime.stores.cases.load(self._case().id)
        return state.case is not None and lifecycle in (state.case.lifecycle, state.case.lifecycle_display)

    # --- 9, 11. webhooks ------------------------------------------------------------------------------
    async def webhook(self, event: str, relayed: Callable[[], Awaitable[str | None]]) -> str:
        """Fire `event`; follow it through Debitura's delivery log, Caseroom's door and the relay."""
        case = self._case()
        client = self.runtime.debitura
        before = {row.id for row in await client.list_webhook_events(case.id)}
        fired = await client.fire_test_webhook(FireWebhookRequest(event=event, case_id=case.id))
        if not fired.enqueued_count:
            raise StepFailed(f"Debitura queued {event} for no subscription: no active test-mode subscription "
                             "takes it (caseroom check says which events it lacks)")
        url = self.subscription.url if self.subscription is not None else "the subscription's URL"

        async def attempted() -> WebhookEventRecord | None:
            rows = [r for r in await client.list_webhook_events(case.id)
                    if r.id not in before and r.event_type == event and (r.attempt_count or 0) > 0]
            return rows[0] if rows else None

        row = await self._wait(attempted)
        if row is None:
            raise StepFailed(f"Debitura queued {event} but its delivery log shows no attempt to {url} after "
                             f"{self.timeout:.0f} s")
        event_id = _envelope_id(row)
        code = row.last_response_code
        if not (code is not None and 200 <= code < 300):
            raise StepFailed(f"webhook not reaching us: Debitura calls {url} and saw "
                             f"{_seen(row)}{_advice(code)}")

        async def door() -> str | None:
            marker = await self.hooks.event_marker(event_id)
            return marker if marker is not None and marker.endswith(QUEUED) else None

        marker = await self._wait(door)
        if marker is None:
            raise StepFailed(f"Debitura delivered {event} to {url} (HTTP {code}), but this Caseroom never "
                             f"took it in (Redis prefix {self.runtime.settings.caseroom_redis_prefix}): that "
                             "URL reaches another installation, or a proxy answers for it")
        if not marker.startswith("door"):
            raise StepFailed(f"{event} reached Caseroom only through the reconciliation of the delivery log "
                             f"({marker}), not through its webhook door at {url}")
        where = await self._wait(relayed)
        if where is None:
            raise StepFailed(f"{event} came through the webhook door, but the relay did not get it to the "
                             f"channel within {self.timeout:.0f} s (is the relay running? caseroom check)")
        return f"delivered to {url} (HTTP {code}), taken in by the door; {where}"

    async def chat_relayed(self) -> str | None:
        """The relay fetched the chats the event asked for. The chat came from Caseroom (the chat
        service posted its line in the channel and marked it), so the relay must not post it again."""
        case_id = self._case().id
        want, src = await self.cases.pending(case_id)
        if src == "webhook" or want & Want.CHATS:
            return None
        target = self.target
        channel = target.channel_id if target is not None else ""
        history = await self.runtime.slack.conversations_history(channel=channel, limit=50)
        texts = [str(m.get("text") or "") for m in history.get("messages") or []]
        if not any("chat message" in t for t in texts):
            raise StepFailed(f"the relay fetched the chats, but #{target.channel_name if target else '?'} "
                             "holds no line for the chat sent from Caseroom")
        return "the relay read the chats; the channel holds the chat once (sent from Caseroom)"

    async def payment_relayed(self) -> str | None:
        """The relay posted the payment (a creditor-side write, new to Caseroom) in the case channel."""
        case_id = self._case().id
        record = await self.relay.relayed(case_id, f"pay:{self.payment_id}")
        if not record or record.count("|") != 2 or record.startswith("pending"):
            return None
        channel_id, ts, _version = record.split("|")
        history = await self.runtime.slack.conversations_history(channel=channel_id, latest=ts,
                                                                 inclusive=True, limit=1)
        if not history.get("messages"):
            raise StepFailed(f"the relay recorded the payment as posted ({ts}), but Slack has no such "
                             "message")
        return f"the relay posted the payment in the channel (ts {ts})"

    def _door_hint(self) -> str:
        url = self.subscription.url if self.subscription is not None else ""
        return f" to {url}" if url else ""

    async def _wait(self, check: Callable[[], Awaitable[Any]]) -> Any:
        deadline = time.monotonic() + self.timeout
        while True:
            value = await check()
            if value:
                return value
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(POLL)

    # --- 13. cleanup ---------------------------------------------------------------------------------
    async def clean_this_run(self) -> str:
        record = self.run_record
        if record is None:
            return "nothing was created"
        if not record.case_id:
            found = await self._resolve([record])
            record = found[0] if found else record
        await self._delete_tag()
        archived = bool(record.case_id) and await self._retire(record.case_id)
        await self.runs.done(record.run_id)
        channel = self.target.channel_name if self.target is not None and self.target.channel_name else ""
        what = f"#{channel} archived" if archived and channel else "no channel to archive"
        return f"test cases tagged {self.tag} deleted; {what}"


# --- helpers ----------------------------------------------------------------------------------------

def _lifecycle(case: Case) -> str:
    return case.lifecycle.display if case.lifecycle is not None else "no lifecycle"


def _words(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, ApiError):
        detail = exc.detail_text()
        if detail and detail not in text:
            text = f"{text} ({detail})"
    return _plain(text)


def _plain(text: str) -> str:
    return text.replace("*", "").replace("`", "")


def _envelope_id(row: WebhookEventRecord) -> str:
    payload = row.payload_json()
    if isinstance(payload, dict) and payload.get("id"):
        return str(payload["id"])
    return row.id


def _seen(row: WebhookEventRecord) -> str:
    parts = []
    if row.last_response_code is not None:
        parts.append(f"HTTP {row.last_response_code}")
    if row.last_error and row.last_error != f"HTTP {row.last_response_code}":
        parts.append(row.last_error)
    if row.attempt_count:
        parts.append(f"after {row.attempt_count} attempt(s)")
    return ", ".join(parts) or "no answer"


def _advice(code: int | None) -> str:
    if code == 401:
        return (" (Caseroom refused the signature: set DEBITURA_WEBHOOK_TEST_SECRET to the test-mode "
                "subscription's secret)")
    if code == 503:
        return " (Caseroom answered 503: DEBITURA_WEBHOOK_SECRET unset, or Redis unavailable)"
    if code is None:
        return " (nothing answered: is Caseroom running and reachable from the internet at that URL?)"
    if code == 404:
        return " (nothing serves /debitura/webhooks there: check the URL and the proxy in front of Caseroom)"
    return ""


async def run_smoke(runtime: Runtime, **options: Any) -> int:
    smoke = Smoke(runtime, **options)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    signals: list[signal.Signals] = []

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, smoke.interrupt, sig.name, task)
            signals.append(sig)
    try:
        return await smoke.run()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def main(*, user: str | None, tag: str, keep: bool, timeout: float, out: TextIO | None = None) -> int:
    """`caseroom smoke`: the exit status (0 passed, 1 failed, 130/143 interrupted)."""
    from bot.config import ConfigError, load_settings
    from bot.runtime import build_runtime

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2

    async def go() -> int:
        runtime = await build_runtime(settings)
        try:
            return await run_smoke(runtime, user=user, tag=tag, keep=keep, timeout=timeout, out=out)
        finally:
            with contextlib.suppress(Exception):
                await runtime.aclose()

    return asyncio.run(go())


