"""resolve_case and the read loaders against the running sandbox (real client, real Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from slack_sdk.web.async_client import AsyncWebClient

from blocks.metadata import ListPage
from bot.debitura.client import DebituraClient
from bot.debitura.errors import NotFound
from bot.debitura.ratelimit import UnlimitedLimiter
from bot.metrics import Metrics
from bot.runtime import Runtime
from bot.services.casework import load_card, load_list, load_view
from bot.services.errors import BadInput, NotInCaseChannel
from bot.services.lookup import resolve_case
from bot.store.keys import Keys
from tests.fakes.slack.validation import assert_valid_message
from tests.fixtures.sandbox import SandboxHandle
from tests.services.helpers import make_settings

pytestmark = pytest.mark.sandbox


@pytest.fixture
async def runtime(sandbox: SandboxHandle, redis: aioredis.Redis, keys: Keys,
                  slack_client: AsyncWebClient) -> AsyncIterator[Runtime]:
    client = DebituraClient(sandbox.url, sandbox.api_key, limiter=UnlimitedLimiter(), max_retries=0)
    settings = make_settings(debitura_api_url=sandbox.url)
    yield Runtime(settings=settings, keys=keys, redis=redis, debitura=client, debitura_background=client,
                  slack=slack_client, metrics=Metrics())
    await client.aclose()


async def test_every_ref_form_resolves_to_the_same_case(runtime: Runtime, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", partner_reference=True)
    forms = [case["reference"], case["reference"].lower(), case["id"], f"partner:{case['partnerReference']}",
             f'creditor:{case["creditorId"]}:"{case["creditorReference"]}"']
    for ref in forms:
        found = await resolve_case(runtime, ref, channel_id=None)
        assert found.id == case["id"], ref


async def test_foreign_and_unknown_cases_are_not_found(runtime: Runtime, sandbox: SandboxHandle) -> None:
    foreign = sandbox.cases(None, ours=False, visible=None)[0]
    for ref in (foreign["reference"], foreign["id"], "ZZZZ9999"):
        with pytest.raises(NotFound):
            await resolve_case(runtime, ref, channel_id=None)


async def test_a_case_channel_stands_for_its_case(runtime: Runtime, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Paused")
    await runtime.redis.set(runtime.keys.channel_case("C0CASE"), case["id"])
    assert (await resolve_case(runtime, None, channel_id="C0CASE")).id == case["id"]
    assert (await resolve_case(runtime, "  ", channel_id="C0CASE")).id == case["id"]
    with pytest.raises(NotInCaseChannel, match="Which case"):
        await resolve_case(runtime, None, channel_id="C0OTHER")
    with pytest.raises(NotInCaseChannel):
        await resolve_case(runtime, None, channel_id=None)
    with pytest.raises(BadInput):
        await resolve_case(runtime, "not-a-ref", channel_id="C0CASE")


async def test_loaders_build_valid_messages_from_sandbox_data(
    runtime: Runtime, sandbox: SandboxHandle
) -> None:
    ref = sandbox.case("Active", with_payments=True)["reference"]
    case = await resolve_case(runtime, ref, channel_id=None)
    assert_valid_message(await load_card(runtime, case, channel_id="C1"))
    for kind in ("timeline", "payments", "files", "validation"):
        assert_valid_message(await load_view(runtime, kind, case, user_id="U1", channel_id="C1"))
    page = await load_list(runtime, ListPage(st=("Active",), page=1), channel_id="C1", command="/case")
    assert_valid_message(page)
    needs_ref = sandbox.case(None, needs_info=True)["reference"]
    needs_info = await resolve_case(runtime, needs_ref, channel_id=None)
    card = await load_card(runtime, needs_info, channel_id=None)
    assert "needs info" in str(card["blocks"])


async def test_payments_view_survives_a_failing_admin_check(runtime: Runtime, sandbox: SandboxHandle) -> None:
    from dataclasses import replace

    from blocks.ids import Action

    broken = replace(runtime, settings=make_settings(debitura_api_url=sandbox.url,
                                                     caseroom_admin_group="S0NOSUCHGROUP"))
    ref = sandbox.case("Active", with_payments=True)["reference"]
    case = await resolve_case(broken, ref, channel_id=None)
    message = await load_view(broken, "payments", case, user_id="U1", channel_id=None)
    assert_valid_message(message)
    assert Action.EDIT_PAYMENT not in str(message["blocks"])
    assert "payment" in str(message["blocks"])


async def test_partner_references_unsafe_in_a_path_resolve_by_query(
    runtime: Runtime, sandbox: SandboxHandle
) -> None:
    """`/` or `\\` in our reference: looked up as a query parameter (never a path segment), and found."""
    from bot.debitura.models import StartCaseRequest

    team = await runtime.debitura.all_users()
    email = next(u.email for u in team if u.email)
    pending = sandbox.case("PendingVerification")
    reference = "ACME-2026/17 & 18\\b"
    await runtime.debitura.start_case(pending["id"], StartCaseRequest(
        welcome_message="Hello", user_email=email, collection_partner_reference=reference))
    found = await resolve_case(runtime, f'partner:"{reference}"', channel_id=None)
    assert found.id == pending["id"]
    with pytest.raises(NotFound):
        await resolve_case(runtime, 'partner:"ACME-2026/17 & 19"', channel_id=None)
    with pytest.raises(BadInput, match="cannot be references"):
        await resolve_case(runtime, "partner:..", channel_id=None)
