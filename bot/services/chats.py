"""Send a chat message to the creditor, in the name of the Slack user's Debitura team member.

The Idempotency-Key is derived from the modal: Debitura replays the original message for the same
key and body (kept 24 h), so a retried submission does not post twice.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from blocks.parse import ChatForm
from blocks.text import esc, one_line, truncate
from bot.debitura.models import SendChatRequest
from bot.services import audit
from bot.services.writes import WriteResult
from bot.store.snapshots import snapshot_chat

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


async def send_chat(runtime: Runtime, *, case: Case, form: ChatForm, sender_email: str, idempotency_key: str,
                    user_id: str) -> WriteResult:
    reference = case.reference or case.id
    request = SendChatRequest(message=form.text, user_email=sender_email)
    chat = await runtime.debitura.send_chat(case.id, request, idempotency_key=idempotency_key)
    try:
        # The case channel already gets the audit line; the relay must not post the message back as
        # "written outside Caseroom".
        await runtime.stores.cases.mark_chat_sent(case.id, chat.id, snapshot_chat(chat).version)
    except RedisError:
        log.warning("chat %s on case %s sent, but not marked for the relay: it may be relayed back",
                    chat.id, case.id)
    await audit.record_write(
        runtime, user_id=user_id, action="chat", case_id=case.id, case_reference=case.reference,
        summary={"sender": sender_email, "chars": len(form.text),
                 "excerpt": truncate(one_line(form.text), 200), "idempotency_key": idempotency_key},
        result={"chat_id": chat.id}, line="sent a chat message to the creditor")
    return WriteResult(ok=True, text=(f"Message sent on *{esc(reference)}*. The creditor is emailed and "
                                      "gets a task to review it."), data={"chat_id": chat.id})
