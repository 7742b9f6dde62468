"""What every listener does before and after its service call, written once.

Before: `case_action(runtime, body)` decodes the case reference of a button, checks the user and
loads the case (one `get_case`), raising `BadInput`/`Refused` with words for people.
After: `send` posts a reply on the response_url and `answer` runs the work and turns any failure
into words and an error id. Listener modules import this module, never each other.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from blocks.metadata import CaseRef, MetadataError
from bot.services import identity
from bot.services.errors import BadInput, new_error_id, report

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncRespond

    from blocks.views import Message
    from bot.debitura.models import Case
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

STALE_BUTTON = "This button is from an older message Caseroom cannot read any more. Run the command again."


def action_value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or []
    if not actions or not isinstance(actions[0], dict):
        return ""
    return str(actions[0].get("value") or "")


def decode_case(body: dict[str, Any], stale: str = STALE_BUTTON) -> CaseRef:
    try:
        return CaseRef.decode(action_value(body))
    except MetadataError:
        raise BadInput(stale) from None


def user_and_channel(body: dict[str, Any]) -> tuple[str, str | None]:
    user = body.get("user") or {}
    channel = body.get("channel") or {}
    return str(user.get("id") or ""), (str(channel.get("id") or "") or None)


@dataclass(frozen=True, slots=True)
class CaseAction:
    """A button about one case, ready for a service: who, where, which case (loaded once)."""

    user_id: str
    channel_id: str | None
    ref: CaseRef
    case: Case


async def case_action(runtime: Runtime, body: dict[str, Any], *, write: bool = False) -> CaseAction:
    """Decode the case reference, check the user, load the case: the step every case button starts with.
    `write=True` for a button that changes something (identity checked afresh, `check_user(write=True)`)."""
    user_id, channel_id = user_and_channel(body)
    ref = decode_case(body)
    await identity.check_user(runtime, user_id, write=write)
    case = await runtime.debitura.get_case(ref.id)
    return CaseAction(user_id=user_id, channel_id=channel_id, ref=ref, case=case)


async def send(respond: AsyncRespond, message: Message, *, where: str, response_type: str = "ephemeral",
               replace_original: bool = False) -> bool:
    """Post `message` on the response_url; if Slack refuses it, log why and tell the person (with an
    error id) in a plain ephemeral line. True when the message itself was accepted."""
    result = await respond(**message, response_type=response_type, replace_original=replace_original)
    status = getattr(result, "status_code", 200)
    if status == 200:
        return True
    error_id = new_error_id()
    log.error("error_id=%s %s: Slack refused the reply (HTTP %s: %s)", error_id, where, status,
              getattr(result, "body", ""), extra={"error_id": error_id, "where": where})
    text = f"Slack refused to show this reply (HTTP {status}). Try again.\n_Error id `{error_id}`_"
    await respond(text=text, response_type="ephemeral", replace_original=False)
    return False


async def answer(respond: AsyncRespond, work: Callable[[], Awaitable[Message | None]], *, where: str,
                 replace_original: bool = False) -> None:
    """Run `work` and send its reply ephemeral; any error becomes words and an error id."""
    try:
        reply = await work()
    except Exception as exc:
        text = report(exc, where=where, logger=log)
        await respond(text=text, response_type="ephemeral", replace_original=False)
        return
    if reply is not None:
        await send(respond, reply, where=where, replace_original=replace_original)


