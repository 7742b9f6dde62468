"""Thread replies become chats to the creditor (after one confirmation), and reactions become notes.

A case channel is one-way by default: everything people write there stays internal. Two things send
something to Debitura, each exactly once per Slack message:

- A thread reply under a relayed *creditor* chat (the relay's metadata on the parent names the chat
  and the case) gets an ephemeral "Send this to the creditor as you?" (`offer_reply`). Send
  (`send_reply`) reads the reply's text as it is at that moment (an edit made before Send is what is
  sent), checks the person again, and posts it with `POST /cases/{id}/chats` as their Debitura team
  member, under an Idempotency-Key derived from the channel and the reply's ts (`reply_key`) and the
  once-only guard of `bot.services.writes.run_once`: a redelivered event, a double click and the Edit
  modal all send once. The reply then gets a check mark. An edit after sending is not sent again
  (`reply_edited` says so). Nothing is sent without Send.
- The note reaction (`CASEROOM_NOTE_REACTION`, :memo: by default) on any message of a case channel
  adds it to the case as a note (text, author, permalink), once per message (`note_key`).

Guests, Slack Connect users, deactivated accounts and people without a Debitura account get the
same refusal as the modals (`bot.services.identity`); bots' posts are ignored.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from blocks.metadata import ThreadReply
from blocks.parse import ChatForm, NoteForm
from blocks.text import esc
from blocks.threads import (
    build_edit_not_sent,
    build_thread_notice,
    build_thread_offer,
)
from bot.debitura.models import CHAT_MAX, NOTE_MAX, ChatRole
from bot.services import chats, identity, notes
from bot.services.errors import BadInput, Refused
from bot.services.writes import PENDING_PREFIX, WriteResult, run_once
from bot.slack import channels, threads
from bot.store.keys import IDEMPOTENCY_TTL

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

SENT_REACTION = "white_check_mark"
OFFERED = "offered"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:48]


def reply_key(channel_id: str, ts: str) -> str:
    """The Idempotency-Key of the chat made from the reply `ts` in `channel_id` (also the Edit modal's)."""
    return f"caseroom-thread-chat-{_digest(channel_id, ts)}"


def offer_key(channel_id: str, ts: str) -> str:
    return f"caseroom-thread-offer-{_digest(channel_id, ts)}"


def note_key(channel_id: str, ts: str) -> str:
    """The once-only key of the note made from the message `ts` (reaction or shortcut)."""
    return f"caseroom-message-note-{_digest(channel_id, ts)}"


def too_long(kind: str, length: int, limit: int) -> str:
    return (f"This is {length:,} characters; Debitura takes at most {limit:,} in a {kind}. "
            "Shorten it (edit your message) and try again.")


@dataclass(frozen=True, slots=True)
class Reply:
    """A thread reply as the `message` event shows it."""

    channel_id: str
    ts: str
    thread_ts: str
    user_id: str
    text: str
    parent_user_id: str | None


def thread_reply(event: dict[str, Any]) -> Reply | None:
    """The person's thread reply in `event`, or None (top-level, edits, bots, joins...)."""
    subtype = event.get("subtype")
    if subtype not in (None, "thread_broadcast"):
        return None
    if event.get("bot_id") or event.get("bot_profile"):
        return None  # another app or a classic bot: never sent in anyone's name
    channel_id, ts, thread_ts = event.get("channel"), event.get("ts"), event.get("thread_ts")
    user_id = event.get("user")
    if not all(isinstance(v, str) and v for v in (channel_id, ts, thread_ts, user_id)) or thread_ts == ts:
        return None
    parent_user = event.get("parent_user_id")
    return Reply(str(channel_id), str(ts), str(thread_ts), str(user_id), str(event.get("text") or ""),
                 parent_user if isinstance(parent_user, str) and parent_user else None)


async def _creditor_chat(runtime: Runtime, case_id: str, chat_id: str) -> bool:
    for chat in await runtime.debitura.list_chats(case_id):
        if chat.id == chat_id:
            return chat.role == ChatRole.CREDITOR
    return False


async def offer_reply(runtime: Runtime, event: dict[str, Any], *, bot_user_id: str | None) -> str:
    """A `message` event: offer to send a thread reply under a relayed creditor chat. Returns what was
    done (for logs and tests): ignored:<why>, refused, offered, or duplicate."""
    reply = thread_reply(event)
    if reply is None:
        return "ignored:not a person's thread reply"
    if bot_user_id and reply.parent_user_id and reply.parent_user_id != bot_user_id:
        return "ignored:not under a Caseroom message"
    if not reply.text.strip():
        return "ignored:no text"
    case_id = await channels.case_for_channel(runtime, reply.channel_id)
    if case_id is None:
        return "ignored:not a case channel"
    # One decision per reply: Slack delivering it again costs one Redis SET, not Slack and Debitura calls.
    offered = offer_key(reply.channel_id, reply.ts)
    if not await runtime.stores.outcomes.claim(offered, OFFERED, IDEMPOTENCY_TTL):
        return "duplicate"
    try:
        outcome = await _offer(runtime, reply, case_id)
    except BaseException:
        await runtime.stores.outcomes.release(offered, OFFERED)  # undecided: a redelivery may try again
        raise
    if outcome == "failed":
        await runtime.stores.outcomes.release(offered, OFFERED)
    return outcome


async def _offer(runtime: Runtime, reply: Reply, case_id: str) -> str:
    parent = await threads.thread_parent(runtime, reply.channel_id, reply.thread_ts)
    stamp = threads.relay_stamp(parent)
    if stamp is None or not stamp.item_id.startswith("chat:") or stamp.case_id != case_id:
        return "ignored:not under a relayed chat"
    chat_id = stamp.item_id.split(":", 1)[1].split("@", 1)[0]
    # The relay stamps a chat with its author's role; a chat relayed before that is looked up.
    creditor = (stamp.role == ChatRole.CREDITOR if stamp.role is not None
                else await _creditor_chat(runtime, case_id, chat_id))
    if not creditor:
        return "ignored:not a creditor chat"
    try:
        await identity.check_user(runtime, reply.user_id, write=True)
        member = await identity.team_member(runtime, reply.user_id)
    except Refused as exc:
        await threads.post_ephemeral(runtime, reply.channel_id, reply.user_id, build_thread_notice(
            f":no_entry: Not sent to the creditor: {exc.message}"), thread_ts=reply.thread_ts)
        return "refused"
    ref = ThreadReply(id=case_id, ref=await _reference(runtime, case_id), chat=chat_id, ch=reply.channel_id,
                      ts=reply.ts, th=reply.thread_ts)
    problem = too_long("chat message", len(reply.text), CHAT_MAX) if len(reply.text) > CHAT_MAX else None
    message = build_thread_offer(ref, text=reply.text, sender=member.name or member.email or "you",
                                 problem=problem)
    if not await threads.post_ephemeral(runtime, reply.channel_id, reply.user_id, message,
                                        thread_ts=reply.thread_ts):
        return "failed"
    return "offered"


async def _reference(runtime: Runtime, case_id: str) -> str:
    """The case's Debitura reference from the relay's stored snapshot ("" when not stored yet)."""
    state = await runtime.stores.cases.load(case_id)
    return state.case.reference if state.case is not None and state.case.reference else ""


@dataclass(frozen=True, slots=True)
class Sent:
    """The answer to Send: the result, when it went out, and the case reference."""

    result: WriteResult
    at: float
    reference: str


def _sent_at(result: WriteResult) -> float:
    try:
        return float(result.data.get("at") or 0) or time.time()
    except ValueError:
        return time.time()


async def recorded(runtime: Runtime, key: str) -> WriteResult | None:
    """The stored success of the write under `key`, if it has one (None: not done, or still running)."""
    current = await runtime.stores.outcomes.current(key)
    if current is None or current.startswith(PENDING_PREFIX):
        return None
    try:
        return WriteResult.from_json(current, replayed=True)
    except (ValueError, KeyError, TypeError):
        return None


async def send_reply(runtime: Runtime, ref: ThreadReply, *, user_id: str) -> Sent:
    """Send: the reply as it reads now, as the clicking person (who must be its author), once."""
    key = reply_key(ref.ch, ref.ts)
    done = await recorded(runtime, key)
    if done is not None:
        return Sent(done, _sent_at(done), ref.ref or ref.id[:8])
    await _same_case(runtime, ref)
    await identity.check_user(runtime, user_id, write=True)
    member = await identity.team_member(runtime, user_id)
    if not member.email:
        raise BadInput("Your Debitura account has no email address; nothing was sent.")
    message = await threads.read_message(runtime, ref.ch, ref.ts, ref.th)
    if message is None:
        raise BadInput("Your reply is gone from the thread (deleted?), so nothing was sent.")
    if message.get("user") != user_id:
        raise Refused("Only the person who wrote this reply can send it to the creditor.")
    text = str(message.get("text") or "").strip()
    if not text:
        raise BadInput("Your reply has no text to send.")
    if len(text) > CHAT_MAX:
        raise BadInput(too_long("chat message", len(text), CHAT_MAX))

    async def send() -> WriteResult:
        case = await runtime.debitura.get_case(ref.id)
        result = await chats.send_chat(runtime, case=case, form=ChatForm(text=text),
                                       sender_email=member.email or "", idempotency_key=key, user_id=user_id)
        data = {**result.data, "at": f"{time.time():.3f}", "ref": case.reference or ""}
        return WriteResult(ok=result.ok, text=result.text, warnings=result.warnings, details=result.details,
                           data=data)

    result = await run_once(runtime, key, send)
    if result.ok and not result.replayed:
        await mark_sent(runtime, ref.ch, ref.ts)
    return Sent(result, _sent_at(result), result.data.get("ref") or ref.ref or ref.id[:8])


async def _same_case(runtime: Runtime, ref: ThreadReply) -> None:
    """The channel of the offer still stands for its case (else the offer is stale)."""
    if await channels.case_for_channel(runtime, ref.ch) != ref.id:
        raise BadInput("This channel no longer stands for that case, so nothing was sent. Use /case chat.")


async def reply_text(runtime: Runtime, ref: ThreadReply, *, user_id: str) -> str:
    """The reply's text as it reads now (for the Edit modal); refused for anyone but its author."""
    await _same_case(runtime, ref)
    message = await threads.read_message(runtime, ref.ch, ref.ts, ref.th)
    if message is None:
        raise BadInput("Your reply is gone from the thread (deleted?); send the message with /case chat.")
    if message.get("user") != user_id:
        raise Refused("Only the person who wrote this reply can send it to the creditor.")
    return str(message.get("text") or "")


async def send_edited_reply(runtime: Runtime, *, case: Case, form: ChatForm, sender_email: str, key: str,
                            user_id: str, channel_id: str, ts: str) -> WriteResult:
    """The chat modal opened with Edit: sent under the reply's own key (run once by the modal), marked."""
    result = await chats.send_chat(runtime, case=case, form=form, sender_email=sender_email,
                                   idempotency_key=key, user_id=user_id)
    if result.ok:
        await mark_sent(runtime, channel_id, ts)
    return WriteResult(ok=result.ok, text=result.text, warnings=result.warnings, details=result.details,
                       data={**result.data, "at": f"{time.time():.3f}", "ref": case.reference or ""})


async def mark_sent(runtime: Runtime, channel_id: str, ts: str) -> None:
    """The check mark on a reply sent to the creditor (best effort: the chat is sent either way)."""
    await threads.add_reaction(runtime, channel_id, ts, SENT_REACTION)


async def reply_edited(runtime: Runtime, event: dict[str, Any]) -> str:
    """`message_changed` on a thread reply already sent: the edit is not sent; tell its author."""
    if event.get("subtype") != "message_changed":
        return "ignored:not an edit"
    after, before = event.get("message"), event.get("previous_message")
    channel_id = event.get("channel")
    if not isinstance(after, dict) or not isinstance(channel_id, str):
        return "ignored:no message"
    ts, thread_ts, user_id = after.get("ts"), after.get("thread_ts"), after.get("user")
    if not isinstance(ts, str) or not isinstance(thread_ts, str) or thread_ts == ts:
        return "ignored:not a thread reply"
    if not isinstance(user_id, str):
        return "ignored:no author"
    if isinstance(before, dict) and before.get("text") == after.get("text"):
        return "ignored:text unchanged"
    done = await recorded(runtime, reply_key(channel_id, ts))
    if done is None:
        return "ignored:not sent (Send reads the current text)"
    await threads.post_ephemeral(runtime, channel_id, user_id,
                                 build_edit_not_sent(done.data.get("ref") or "", at=_sent_at(done)),
                                 thread_ts=thread_ts)
    return "told"


# --- the note reaction -----------------------------------------------------------------------------

def note_text(text: str, *, author: str, permalink: str | None) -> str:
    """The note made from a Slack message: its text, who wrote it, and a link back."""
    where = f" in Slack: {permalink}" if permalink else " in Slack"
    return f"{text.strip()}\n\n(Written by {author}{where})"


async def _author(runtime: Runtime, message: dict[str, Any]) -> str:
    user_id = message.get("user")
    if isinstance(user_id, str) and user_id:
        try:
            profile = await identity.slack_user(runtime, user_id)
        except Exception:  # a name is nice to have; the note is not lost for it
            log.info("no Slack profile for %s; the note names the user id", user_id)
            return user_id
        return profile.name or user_id
    return str(message.get("username") or (message.get("bot_profile") or {}).get("name") or "an app")


async def note_from_reaction(runtime: Runtime, event: dict[str, Any]) -> str:
    """`reaction_added` with the note emoji on a message in a case channel: the message becomes a note."""
    wanted = runtime.settings.caseroom_note_reaction.strip(": ")
    if not wanted or event.get("reaction") != wanted:
        return "ignored:another reaction"
    item, user_id = event.get("item"), event.get("user")
    if not isinstance(item, dict) or item.get("type") != "message" or not isinstance(user_id, str):
        return "ignored:not a message"
    channel_id, ts = item.get("channel"), item.get("ts")
    if not isinstance(channel_id, str) or not isinstance(ts, str):
        return "ignored:no message"
    case_id = await channels.case_for_channel(runtime, channel_id)
    if case_id is None:
        return "ignored:not a case channel"
    key = note_key(channel_id, ts)
    done = await recorded(runtime, key)
    if done is not None:
        await threads.post_ephemeral(runtime, channel_id, user_id, build_thread_notice(
            f":memo: This message is already a note on *{esc(done.data.get('ref') or '')}*; "
            "it was added once."))
        return "duplicate"
    try:
        await identity.check_user(runtime, user_id, write=True)
    except Refused as exc:
        await threads.post_ephemeral(runtime, channel_id, user_id, build_thread_notice(
            f":no_entry: Not added as a note: {exc.message}"))
        return "refused"
    message = await threads.read_message(runtime, channel_id, ts)
    if message is None or not str(message.get("text") or "").strip():
        await threads.post_ephemeral(runtime, channel_id, user_id, build_thread_notice(
            "Not added as a note: that message has no text Caseroom can read."))
        return "ignored:no text"
    link = await threads.permalink(runtime, channel_id, ts)
    text = note_text(str(message.get("text") or ""), author=await _author(runtime, message), permalink=link)
    if len(text) > NOTE_MAX:
        await threads.post_ephemeral(runtime, channel_id, user_id, build_thread_notice(
            f":no_entry: Not added as a note. {too_long('note', len(text), NOTE_MAX)}"))
        return "refused:too long"

    async def add() -> WriteResult:
        case = await runtime.debitura.get_case(case_id)
        result = await notes.add_note(runtime, case=case, form=NoteForm(text=text), user_id=user_id)
        return WriteResult(ok=result.ok, text=result.text, warnings=result.warnings, details=result.details,
                           data={**result.data, "ref": case.reference or ""})

    result = await run_once(runtime, key, add)
    await threads.post_ephemeral(runtime, channel_id, user_id, build_thread_notice(
        (":memo: " + result.text) if result.ok and not result.replayed else
        f":memo: This message is already a note on *{esc(result.data.get('ref') or '')}*; it was added once."
        if result.ok else f":warning: {result.text}"))
    return "noted" if result.ok and not result.replayed else "duplicate" if result.ok else "failed"
