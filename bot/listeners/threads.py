"""Case channels answer back: thread replies, their edits, the note reaction, and the offer's buttons.

- `message` events (`message.groups` / `message.channels`): a person's thread reply under a relayed
  creditor chat gets the ephemeral offer (`bot.services.threads.offer_reply`); an edit of a reply
  already sent is answered "not sent again" (`reply_edited`). Everything else is left alone: a case
  channel stays internal unless someone confirms.
- `reaction_added` (`reactions:read`): the note reaction makes the message a case note, once.
- Send / Edit / Don't send on the offer: Send sends through the service and replaces the offer with
  "Sent to the creditor at HH:MM"; Edit opens the chat modal filled with the reply; Don't send
  replaces the offer with "Not sent". Answers go through the click's response_url (an ephemeral
  message cannot be updated any other way).
Events are acked by Bolt at once (process_before_response is off); the work runs after.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from blocks.ids import Action
from blocks.metadata import MetadataError, ThreadReply
from blocks.threads import build_thread_kept, build_thread_notice, build_thread_sent
from bot.listeners._context import action_value, user_and_channel
from bot.services import threads
from bot.services.errors import BadInput, CaseroomError, report
from bot.services.writes import StillRunning

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.runtime import Runtime

log = logging.getLogger(__name__)

STALE = "This offer is from a message Caseroom cannot read any more. Reply in the thread again."


def reply_of(body: dict[str, Any]) -> ThreadReply:
    try:
        return ThreadReply.decode(action_value(body))
    except MetadataError:
        raise BadInput(STALE) from None


OUTCOMES = frozenset({"offered", "sent", "duplicate", "refused", "ignored", "told", "noted", "failed",
                      "error"})


def count(runtime: Runtime, what: str, outcome: str) -> None:
    """One handled message in caseroom_thread_messages_total (the outcome's first word, bounded)."""
    word = outcome.split(":", 1)[0]
    runtime.metrics.thread_messages.labels(what=what, outcome=word if word in OUTCOMES else "error").inc()


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.event("message")
    async def _message(event: dict[str, Any], context: AsyncBoltContext) -> None:
        what = "edit" if event.get("subtype") == "message_changed" else "offer"
        try:
            if what == "edit":
                outcome = await threads.reply_edited(runtime, event)
            else:
                outcome = await threads.offer_reply(runtime, event, bot_user_id=context.bot_user_id)
        except Exception as exc:
            report(exc, where="thread reply event", logger=log)
            count(runtime, what, "error")
            return
        count(runtime, what, outcome)
        log.debug("message event in %s: %s", event.get("channel"), outcome)

    @app.event("reaction_added")
    async def _reaction(event: dict[str, Any]) -> None:
        try:
            outcome = await threads.note_from_reaction(runtime, event)
        except Exception as exc:
            report(exc, where="note reaction", logger=log)
            count(runtime, "note", "error")
            return
        count(runtime, "note", outcome)
        log.debug("reaction %s: %s", event.get("reaction"), outcome)

    @app.action(Action.THREAD_SEND)
    async def _send(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        try:
            reply = reply_of(body)
            user_id, _ = user_and_channel(body)
            sent = await threads.send_reply(runtime, reply, user_id=user_id)
        except StillRunning:
            await respond(**build_thread_notice("This reply is still being sent to Debitura (another click). "
                                                "Look at the case's chats in a minute before trying again."),
                          response_type="ephemeral", replace_original=False)
            return
        except Exception as exc:
            count(runtime, "send", "refused" if isinstance(exc, CaseroomError) else "error")
            text = report(exc, where="send thread reply", logger=log)
            await respond(**build_thread_notice(f":no_entry: Not sent. {text}"), response_type="ephemeral",
                          replace_original=False)
            return
        outcome = "duplicate" if sent.result.replayed else "sent" if sent.result.ok else "failed"
        count(runtime, "send", outcome)
        if not sent.result.ok:
            await respond(**build_thread_notice(f":warning: {sent.result.text}"), response_type="ephemeral",
                          replace_original=False)
            return
        await respond(**build_thread_sent(sent.reference, at=sent.at, replayed=sent.result.replayed),
                      response_type="ephemeral", replace_original=True)

    @app.action(Action.THREAD_EDIT)
    async def _edit(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any],
                    client: AsyncWebClient) -> None:
        await ack()
        try:
            reply = reply_of(body)
            user_id, _ = user_and_channel(body)
            from bot.listeners.writes.chat import open_chat_for_reply

            trigger_id = str(body.get("trigger_id") or "")
            await open_chat_for_reply(runtime, client, reply=reply, trigger_id=trigger_id, user_id=user_id)
        except Exception as exc:
            text = report(exc, where="edit thread reply", logger=log)
            await respond(text=text, response_type="ephemeral", replace_original=False)

    @app.action(Action.THREAD_SKIP)
    async def _skip(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        await respond(**build_thread_kept(), response_type="ephemeral", replace_original=True)
