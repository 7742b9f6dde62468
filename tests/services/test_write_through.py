"""The one skeleton of the writes Debitura does not dedupe (notes, close, start, fees): call, re-read on
OutcomeUnknown, audit what was applied, the result."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis.asyncio as aioredis
from slack_sdk.web.async_client import AsyncWebClient

from bot.debitura.errors import BadRequest, OutcomeUnknown, TransportError
from bot.debitura.models import Case
from bot.runtime import Runtime
from bot.services import audit
from bot.services.writes import Applied, Audit, Reread, WriteResult, write_through
from bot.store.keys import Keys
from tests.services.helpers import make_runtime

CASE = Case.model_validate({"id": "case-1", "reference": "Q8OAXF3W"})
AUDIT = Audit("close", {"close_code": "Other"}, line="closed the case")


@pytest.fixture
def runtime(redis: aioredis.Redis, keys: Keys, slack_client: AsyncWebClient) -> Runtime:
    return make_runtime(redis=redis, keys=keys, slack=slack_client)


def reread(found: Any, applied: bool = True) -> Reread[Any]:
    async def read() -> Any:
        if isinstance(found, Exception):
            raise found
        return found

    return Reread("the case", read, lambda fresh: applied, unreadable="unreadable", not_applied="not applied",
                  confirmed="confirmed")


def sends(answer: Any) -> Any:
    async def send() -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer

    return send


def applied(answer: str) -> Applied | str:
    if answer == "gate":
        return "gate"
    return Applied(WriteResult(ok=True, text=f"done: {answer}"), {"answer": answer}, line="closed it (paid)")


async def run(runtime: Runtime, answer: Any, check: Reread[Any]) -> WriteResult | str:
    return await write_through(runtime, case=CASE, user_id="U1", audit_as=AUDIT, send=sends(answer),
                               done=applied, reread=check)


async def test_an_answered_write_is_audited_with_its_result(runtime: Runtime) -> None:
    result = await run(runtime, "ok", reread(CASE))
    assert result == WriteResult(ok=True, text="done: ok")
    [entry] = await audit.recent_entries(runtime)
    assert (entry["action"], entry["case_id"], entry["user"]) == ("close", "case-1", "U1")
    assert json.loads(entry["summary"]) == {"close_code": "Other"}
    assert json.loads(entry["result"]) == {"answer": "ok"}


async def test_an_answer_that_applied_nothing_is_handed_back_unaudited(runtime: Runtime) -> None:
    assert await run(runtime, "gate", reread(CASE)) == "gate"
    assert await audit.recent_entries(runtime) == []


@pytest.mark.parametrize(("found", "is_applied", "text", "ok"), [
    (CASE, True, "confirmed", True),
    (CASE, False, "not applied", False),
    (TransportError("down"), True, "unreadable", False),
])
async def test_an_unknown_outcome_is_resolved_by_re_reading(
    runtime: Runtime, found: Any, is_applied: bool, text: str, ok: bool
) -> None:
    unknown = OutcomeUnknown("close_case", "case-1", reason="timeout")
    result = await run(runtime, unknown, reread(found, is_applied))
    assert result == WriteResult(ok=ok, text=text)
    entries = await audit.recent_entries(runtime)
    if ok:
        assert [json.loads(e["result"]) for e in entries] == [{"resolved": "case re-read"}]
    else:
        assert entries == []


async def test_debituras_refusals_propagate_unaudited(runtime: Runtime) -> None:
    refusal = BadRequest(400, message="wrong state")
    with pytest.raises(BadRequest):
        await run(runtime, refusal, reread(CASE))
    assert await audit.recent_entries(runtime) == []
