"""The slash command (`/case` by default, `settings.caseroom_command`).

The command is acked at once from its payload alone (`plan_command`: usage and malformed input are
answered in the ack itself), then the API work runs and answers through the response_url, always
ephemeral. `FastAck` does this before Bolt's listener runner (see its docstring); the registered
listener runs the same two steps. Every failure becomes words plus an error id
(`bot.services.errors.report`), never a traceback.

`parse_command()` is pure. The replies are built by `bot.services.casework` (`load_*`, `follow_case`,
shared with the card buttons) and sent by `bot.listeners._context` (`send`, `answer`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from slack_bolt import BoltResponse
from slack_bolt.context.respond.async_respond import AsyncRespond as AsyncRespondImpl

from blocks.metadata import ListPage
from blocks.parse import NoteForm
from blocks.text import esc
from blocks.views import (
    Message,
    build_notice,
    build_usage,
)
from bot.debitura.models import Case, Lifecycle, normalise_code
from bot.listeners._context import answer
from bot.services import identity, notes
from bot.services.casework import (
    find_cases,
    follow_case,
    load_card,
    load_chats,
    load_list,
    load_view,
    note_target,
    unfollow_case,
)
from bot.services.errors import BadInput, report
from bot.services.home import mute_case
from bot.services.lookup import parse_ref, parse_refs, resolve_case, split_ref

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltRequest, AsyncRespond
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")

VIEW_KINDS = ("timeline", "payments", "files", "period", "validation")
MODAL_KINDS = ("pay", "chat", "close", "activate", "fees", "upload")
CASE_KINDS = (*VIEW_KINDS, *MODAL_KINDS, "follow", "unfollow", "note", "debtor", "mute", "unmute")
MAX_NOTE = 10_000
MAX_LIST_PAGE = 10_000

EXAMPLES: dict[str, str] = {
    "card": "Q8OAXF3W",
    "list": "list mine lifecycle:Active phase:Legal page 2",
    "chats": "chats Q8OAXF3W page 2",
    "find": "find INV-1001,INV-1002",
    "note": "note Q8OAXF3W Called the debtor, promised to pay Friday",
    "follow": "follow Q8OAXF3W",
    "unfollow": "unfollow Q8OAXF3W",
    "mute": "mute Q8OAXF3W",
    "unmute": "unmute Q8OAXF3W",
    **{k: f"{k} Q8OAXF3W" for k in (*VIEW_KINDS, *MODAL_KINDS, "debtor")},
}


class UsageError(BadInput):
    """A malformed command: answered with the usage and an example."""

    def __init__(self, message: str, example: str | None = None) -> None:
        super().__init__(message)
        self.example = example


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    sub: str
    """`help`, `card`, `list`, `find`, `note`, a view kind, a modal kind, `follow` or `unfollow`."""
    ref: str | None = None
    """The case as typed (None: the channel's case)."""
    text: str = ""
    """`note`: the note's text (empty opens the modal)."""
    statuses: tuple[str, ...] = ()
    page: int = 1
    refs: tuple[str, ...] = field(default_factory=tuple)
    mine: bool = False
    """`list mine`: only the cases assigned to the person asking."""
    phases: tuple[str, ...] = ()
    """`list phase:...`: engagement phases (`none` for no active engagement)."""


def _statuses(words: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for word in words:
        for part in word.split(","):
            if not part.strip():
                continue
            member = Lifecycle.from_display(part)
            if member is None:
                names = ", ".join(
                    m.value for m in (Lifecycle.PendingVerification, Lifecycle.NeedsAdditionalDetails,
                                      Lifecycle.Active, Lifecycle.Paused, Lifecycle.Closed))
                raise UsageError(f"`{esc(part)}` is not a case status. Use: {names}.", EXAMPLES["list"])
            if member.value not in out:
                out.append(member.value)
    return tuple(out)


def _take_page(words: list[str], example: str) -> tuple[list[str], int]:
    """`page N` out of `words`: (the other words, N); 1 without it."""
    lowered = [w.lower() for w in words]
    if "page" not in lowered:
        return words, 1
    at = lowered.index("page")
    if at + 1 >= len(words) or not re.fullmatch(r"\d{1,6}", words[at + 1]) or int(words[at + 1]) < 1:
        raise UsageError("`page` needs a page number (1, 2, ...).", example)
    page = int(words[at + 1])
    if page > MAX_LIST_PAGE:
        raise UsageError(f"Pages go up to {MAX_LIST_PAGE}.", example)
    return words[:at] + words[at + 2:], page


PHASES = {normalise_code(p): p for p in ("Pre-legal", "Legal", "Enforcement", "none")}
"""`phase:` values (6.3 of the API reference; `none`: no active engagement), by normalised spelling."""
LIST_FILTERS = ("lifecycle", "phase")


def _phases(value: str) -> tuple[str, ...]:
    out: list[str] = []
    for part in value.split(","):
        if not part.strip():
            continue
        phase = PHASES.get(normalise_code(part))
        if phase is None:
            raise UsageError(f"`{esc(part[:40])}` is not an engagement phase. Use: "
                             f"{', '.join(PHASES.values())}.", EXAMPLES["list"])
        if phase not in out:
            out.append(phase)
    if not out:
        raise UsageError("`phase:` needs a phase: " + ", ".join(PHASES.values()) + ".", EXAMPLES["list"])
    return tuple(out)


def _parse_list(rest: str) -> ParsedCommand:
    words, page = _take_page(rest.split(), EXAMPLES["list"])
    mine = False
    phases: tuple[str, ...] = ()
    status_words: list[str] = []
    for word in words:
        key, sep, value = word.partition(":")
        if word.lower() == "mine":
            mine = True
        elif sep:
            key = key.lower()
            if key in ("lifecycle", "status", "statuses"):
                if not value.strip(","):
                    raise UsageError("`lifecycle:` needs a lifecycle, e.g. `lifecycle:Active`.",
                                     EXAMPLES["list"])
                status_words.append(value)
            elif key == "phase":
                phases += tuple(p for p in _phases(value) if p not in phases)
            else:
                raise UsageError(f"`{esc(word[:40])}` is not a list filter. Filters: `mine`, "
                                 "`lifecycle:<lifecycle,...>`, `phase:<phase,...>`.", EXAMPLES["list"])
        else:
            status_words.append(word)
    return ParsedCommand("list", statuses=_statuses(status_words), page=page, mine=mine, phases=phases)


def _parse_chats(rest: str) -> ParsedCommand:
    ref, extra = split_ref(rest)
    if ref.lower() == "page":  # `/case chats page 2` in a case channel
        ref, extra = "", rest
    words, page = _take_page(extra.split(), EXAMPLES["chats"])
    if words:
        raise UsageError(f"`chats` takes a case and `page N`, not `{esc(' '.join(words)[:60])}`.",
                         EXAMPLES["chats"])
    if ref:
        parse_ref(ref)
    return ParsedCommand("chats", ref or None, page=page)


def parse_command(text: str) -> ParsedCommand:
    """Parse the command text. Raises UsageError (with an example) on anything malformed."""
    stripped = (text or "").strip()
    if not stripped:
        return ParsedCommand("help")
    first, _, rest = stripped.partition(" ")
    if "\n" in first:
        first, _, more = first.partition("\n")
        rest = f"{more} {rest}"
    word = first.lower()
    rest = rest.strip()
    if word in ("help", "?", "-h", "--help", "usage"):
        return ParsedCommand("help")
    if word == "list":
        return _parse_list(rest)
    if word == "chats":
        try:
            return _parse_chats(rest)
        except BadInput as exc:
            if isinstance(exc, UsageError):
                raise
            raise UsageError(exc.message, EXAMPLES["chats"]) from None
    if word == "find":
        try:
            return ParsedCommand("find", refs=tuple(parse_refs(rest)))
        except BadInput as exc:
            raise UsageError(exc.message, EXAMPLES["find"]) from None
    if word in CASE_KINDS:
        try:
            ref, extra = split_ref(rest)
            if word == "note":
                if ref:
                    try:
                        parse_ref(ref)
                    except BadInput:
                        # No ref: the whole text is the note, for the channel's case.
                        return ParsedCommand("note", None, _note_text(rest))
                return ParsedCommand("note", ref or None, _note_text(extra))
            if ref:
                parse_ref(ref)
        except BadInput as exc:
            raise UsageError(exc.message, EXAMPLES[word]) from None
        if extra:
            raise UsageError(f"`{esc(word)}` takes only a case, not `{esc(extra[:60])}`.", EXAMPLES[word])
        return ParsedCommand(word, ref or None)
    # `/case <ref>`
    try:
        ref, extra = split_ref(stripped)
        parse_ref(ref)
    except BadInput as exc:
        # Something ref-shaped (a prefix, or letters with digits) gets the ref explanation;
        # a plain word is an unknown subcommand.
        if ":" in first or (re.fullmatch(r"[A-Za-z0-9-]{4,40}", first) and any(c.isdigit() for c in first)):
            raise UsageError(exc.message, EXAMPLES["card"]) from None
        raise UsageError(f"Unknown command `{esc(first[:40])}`.", EXAMPLES["card"]) from None
    if extra:
        raise UsageError(f"A case card takes only the case, not `{esc(extra[:60])}`.", EXAMPLES["card"])
    return ParsedCommand("card", ref)


def _note_text(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_NOTE:
        raise UsageError(f"A note holds at most {MAX_NOTE:,} characters (yours has {len(text):,}).")
    return text


async def add_note(runtime: Runtime, case: Case, text: str, *, user_id: str) -> Message:
    """`/case note <ref> <text>`: a direct write, audited (`bot.services.notes`, shared with the modal,
    which also resolves a timed-out request by re-reading the timeline)."""
    if not text.strip():
        raise BadInput("A note needs some text (at most 10,000 characters).")
    result = await notes.add_note(runtime, case=case, form=NoteForm(text=text), user_id=user_id)
    icon = ":memo:" if result.ok else ":warning:"
    return build_notice(f"{icon} {result.text}")


# --- the command --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Invocation:
    user_id: str
    channel_id: str | None
    command: str
    trigger_id: str


async def while_checking(runtime: Runtime, user_id: str, work: Awaitable[T]) -> T:
    """Await `work` while `identity.check_user` runs; the check's refusal wins over any result or error."""
    check = asyncio.ensure_future(identity.check_user(runtime, user_id))
    try:
        result = await work
    except BaseException:
        await check
        raise
    await check
    return result


async def run_command(runtime: Runtime, client: AsyncWebClient, parsed: ParsedCommand, inv: Invocation
                      ) -> Message | None:
    """Do what `parsed` asks after the ack. Returns the reply (None when a modal answered instead)."""
    sub = parsed.sub
    if sub == "chats":
        case = await while_checking(runtime, inv.user_id,
                                    resolve_case(runtime, parsed.ref, channel_id=inv.channel_id))
        return await load_chats(runtime, case, page=parsed.page, channel_id=inv.channel_id)
    if sub == "debtor":
        from bot.listeners.readviews import open_debtor_view

        await open_debtor_view(runtime, client, case_ref=parsed.ref, trigger_id=inv.trigger_id,
                               user_id=inv.user_id, channel_id=inv.channel_id)
        return None
    if sub == "card" or sub in VIEW_KINDS:
        # Read-only: the case is looked up while the user is checked; a refusal still wins.
        case = await while_checking(runtime, inv.user_id,
                                    resolve_case(runtime, parsed.ref, channel_id=inv.channel_id))
        if sub == "card":
            return await load_card(runtime, case, channel_id=inv.channel_id)
        return await load_view(runtime, sub, case, user_id=inv.user_id, channel_id=inv.channel_id)
    if sub in MODAL_KINDS or (sub == "note" and not parsed.text):
        from bot.listeners.writes.opening import open_write_modal

        # The modal first: trigger_id expires 3 s after the command, and checking the user may cost a
        # users.info call. open_write_modal checks the user itself and shows a refusal in the modal.
        await open_write_modal(runtime, client, kind=sub, case_ref=parsed.ref, trigger_id=inv.trigger_id,
                               user_id=inv.user_id, channel_id=inv.channel_id)
        return None
    # A note is a write, and follow invites the user into a channel of debtor data: both re-read an
    # old cached profile (identity.WRITE_MAX_AGE).
    user = await identity.check_user(runtime, inv.user_id, write=sub in ("note", "follow"))
    if sub == "list":
        request = ListPage(st=parsed.statuses, page=parsed.page, mine=parsed.mine, ph=parsed.phases)
        return await load_list(runtime, request, channel_id=inv.channel_id, command=inv.command,
                               email=user.email)
    if sub == "find":
        return await find_cases(runtime, parsed.refs, command=inv.command)
    if sub == "note":
        case, text = await note_target(runtime, parsed.ref, parsed.text, channel_id=inv.channel_id)
        return await add_note(runtime, case, text, user_id=inv.user_id)
    case = await resolve_case(runtime, parsed.ref, channel_id=inv.channel_id)
    if sub == "follow":
        return await follow_case(runtime, case, user_id=inv.user_id)
    if sub == "unfollow":
        return await unfollow_case(runtime, case)
    if sub in ("mute", "unmute"):
        return await mute_case(runtime, case, user_id=inv.user_id, muted=sub == "mute")
    raise ValueError(f"unhandled subcommand {sub!r}")


@dataclass(frozen=True, slots=True)
class CommandPlan:
    """What to answer in the ack, and the work to do after it (None: the ack says it all)."""

    ack: dict[str, Any]
    parsed: ParsedCommand | None = None
    invocation: Invocation | None = None


def plan_command(body: dict[str, Any], default_command: str) -> CommandPlan:
    """Decide the ack from the command payload alone (no I/O, never raises)."""
    command = str(body.get("command") or default_command)
    try:
        parsed = parse_command(str(body.get("text") or ""))
    except UsageError as exc:
        usage = build_usage(command, problem=exc.message, example=exc.example)
        return CommandPlan({"response_type": "ephemeral", **usage})
    except Exception as exc:  # a bug in parsing must still be answered within the ack
        text = report(exc, where="command parse", logger=log)
        return CommandPlan({"response_type": "ephemeral", "text": text})
    if parsed.sub == "help":
        return CommandPlan({"response_type": "ephemeral", **build_usage(command)})
    invocation = Invocation(
        user_id=str(body.get("user_id") or ""),
        channel_id=str(body.get("channel_id") or "") or None,
        command=command,
        trigger_id=str(body.get("trigger_id") or ""),
    )
    return CommandPlan({}, parsed, invocation)


async def follow_up(runtime: Runtime, client: AsyncWebClient, respond: AsyncRespond, plan: CommandPlan
                    ) -> None:
    """The work after the ack; answers through `respond` (never raises)."""
    parsed, invocation = plan.parsed, plan.invocation
    if parsed is None or invocation is None:
        return
    await answer(respond, lambda: run_command(runtime, client, parsed, invocation),
                 where=f"command {parsed.sub}")


class FastAck:
    """Bolt middleware that acks the slash command itself, before Bolt's listener runner.

    With process_before_response=False, Bolt starts each listener as a task and polls every 10 ms for
    its ack; under 50 concurrent commands that put the ack at ~260 ms (bench/RESULTS.md). This
    middleware answers from the payload alone (`plan_command`), starts the API work as a task and
    returns the ack at once: the same code as the listener, minus the runner. The listener stays
    registered (and is what runs when `register(..., fast_ack=False)`).
    """

    def __init__(self, runtime: Runtime, command_name: str) -> None:
        self.runtime = runtime
        self.command_name = command_name
        self.tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, req: AsyncBoltRequest, resp: BoltResponse,
                       next_: Callable[[], Awaitable[BoltResponse | None]]) -> BoltResponse | None:
        body = req.body
        if "type" in body or body.get("command") != self.command_name:
            return await next_()
        plan = plan_command(body, self.command_name)
        if plan.parsed is not None:
            respond = AsyncRespondImpl(response_url=str(body.get("response_url") or "") or None)
            task = asyncio.create_task(follow_up(self.runtime, self.runtime.slack, respond, plan))
            self.tasks.add(task)  # keep a reference until done (asyncio only keeps weak ones)
            task.add_done_callback(self.tasks.discard)
        if not plan.ack:
            return BoltResponse(status=200, body="")
        return BoltResponse(status=200, body=json.dumps(plan.ack),
                            headers={"content-type": "application/json;charset=utf-8"})


def register(app: AsyncApp, runtime: Runtime, *, fast_ack: bool = True) -> None:
    command_name = runtime.settings.caseroom_command
    if fast_ack:
        app.middleware(FastAck(runtime, command_name))

    @app.command(command_name)
    async def _on_command(ack: AsyncAck, respond: AsyncRespond, client: AsyncWebClient,
                          body: dict[str, Any]) -> None:
        plan = plan_command(body, command_name)
        await ack(**plan.ack)
        await follow_up(runtime, client, respond, plan)
