"""Replies about one case or a list of cases, shared by `/case` and the card buttons: the card, the
detail views, a page of the case list, `/case find`, following and unfollowing, and which case a
`/case note` is for. No Bolt types: each takes the runtime and, where it is about one case, the case
already loaded (once, by the listener's context step or the command's lookup)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from blocks.card import CardOptions, build_case_card
from blocks.chats import build_chats
from blocks.metadata import ListPage
from blocks.text import esc
from blocks.views import (
    LIST_PAGE_SIZE,
    Message,
    build_case_list,
    build_files,
    build_find_result,
    build_follow_result,
    build_notice,
    build_payments,
    build_period,
    build_timeline,
    build_unfollow_result,
    build_validation,
)
from bot.debitura.errors import DebituraError, NotFound
from bot.debitura.models import Case, CasePage, normalise_code
from bot.services import identity
from bot.services.errors import BadInput
from bot.services.lookup import case_id_for_channel, resolve_case
from bot.slack.errors import slack_error

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

MAX_FILTER_SCAN_PAGES = 20
"""`/case list mine` and `phase:` read at most this many listing pages (2,000 cases) per answer."""
FILTER_SCAN_PAGE_SIZE = 100


def today() -> datetime:
    return datetime.now(UTC)


async def load_card(runtime: Runtime, case: Case, *, channel_id: str | None, shared_by: str | None = None
                    ) -> Message:
    validation = None
    if case.needs_info:
        try:
            validation = await runtime.debitura.get_validation(case.id)
        except DebituraError as exc:
            # The card still shows "needs info"; the items are a bonus.
            log.info("validation detail of %s unavailable: %s", case.id, type(exc).__name__)
    options = CardOptions(today=today().date(), channel_id=channel_id, shared=shared_by is not None,
                          shared_by=shared_by, demo=runtime.settings.caseroom_demo)
    return build_case_card(case, options, validation)


async def load_view(runtime: Runtime, kind: str, case: Case, *, user_id: str, channel_id: str | None
                    ) -> Message:
    client = runtime.debitura
    if kind == "timeline":
        return build_timeline(case, await client.get_timeline(case.id), channel_id=channel_id)
    if kind == "payments":
        payments = await client.list_payments(case.id)
        try:
            can_edit = await identity.is_admin(runtime, user_id)
        except SlackApiError as exc:
            # The list is still worth showing; the Edit/Delete forms check admin rights again.
            log.warning("admin check failed (%s); payments shown without edit buttons", slack_error(exc))
            can_edit = False
        return build_payments(case, payments, can_edit=can_edit, channel_id=channel_id)
    if kind == "files":
        return build_files(case, await client.list_files(case.id), channel_id=channel_id)
    if kind == "period":
        try:
            period = await client.get_exclusive_period(case.id)
        except NotFound:
            return build_notice(f"{esc(case.reference or case.id)} has no exclusive collection period "
                                "(for example a case on custom terms).")
        return build_period(case, period, today=today().date(), channel_id=channel_id)
    if kind == "validation":
        return build_validation(case, await client.get_validation(case.id), channel_id=channel_id)
    raise ValueError(f"unknown view {kind!r}")


async def load_list(runtime: Runtime, request: ListPage, *, channel_id: str | None, command: str,
                    email: str | None = None) -> Message:
    """A page of `/case list`. The lifecycle filter is Debitura's (`Statuses`); `mine` (assignee email =
    the asker's Slack email) and the engagement phases are not filters the API has, so those pages are
    made by reading the listing, newest update first, until the page is full (at most
    MAX_FILTER_SCAN_PAGES pages of 100)."""
    if not request.mine and not request.ph:
        page = await runtime.debitura.list_cases(
            page=request.page, page_size=LIST_PAGE_SIZE, statuses=list(request.st) or None,
            sort="DateUpdated:desc", include_test_cases=runtime.settings.caseroom_include_test_cases,
        )
        return build_case_list(page, request, command=command, channel_id=channel_id)
    mine = (email or "").strip().lower()
    if request.mine and not mine:
        raise BadInput("Your Slack profile shows no email address, so Caseroom cannot tell which cases are "
                       "assigned to you. `list` without `mine` shows every case.")
    phases = {normalise_code(p) for p in request.ph}
    wanted = request.page * LIST_PAGE_SIZE + 1  # one more than the page: is there a next one?
    matches: list[Case] = []
    scanned = 0
    complete = True
    for number in range(1, MAX_FILTER_SCAN_PAGES + 1):
        listed = await runtime.debitura.list_cases(
            page=number, page_size=FILTER_SCAN_PAGE_SIZE, statuses=list(request.st) or None,
            sort="DateUpdated:desc", include_test_cases=runtime.settings.caseroom_include_test_cases)
        scanned += len(listed.cases)
        for case in listed.cases:
            if request.mine:
                assignee = (case.assigned_user.email or "") if case.assigned_user is not None else ""
                if assignee.strip().lower() != mine:
                    continue
            if phases and normalise_code(case.current_engagement_phase or "none") not in phases:
                continue
            matches.append(case)
        if len(matches) >= wanted or not listed.has_more(number, FILTER_SCAN_PAGE_SIZE, len(listed.cases)):
            break
    else:
        complete = False
    start = (request.page - 1) * LIST_PAGE_SIZE
    shown = CasePage(cases=matches[start:start + LIST_PAGE_SIZE])
    note = None if complete or len(matches) >= wanted else (
        f"Looked through the {scanned:,} most recently updated cases only; narrow the list with "
        "`lifecycle:`.")
    return build_case_list(shown, request, command=command, channel_id=channel_id,
                           has_more=len(matches) > start + LIST_PAGE_SIZE, note=note)


async def load_chats(runtime: Runtime, case: Case, *, page: int, channel_id: str | None,
                     shared_by: str | None = None) -> Message:
    """`/case chats`: the chat history, `page` 1 being the newest chats (blocks.chats); `shared_by` for
    the page posted in the channel by that person."""
    chats = await runtime.debitura.list_chats(case.id)
    return build_chats(case, chats, page=page, channel_id=channel_id, shared_by=shared_by)


async def follow_case(runtime: Runtime, case: Case, *, user_id: str) -> Message:
    """Create or reuse the case's channel, add the user, and have the relay follow the case.

    `runtime.stores.follows.follow` puts it in the followed set (out of the unfollowed one, which the
    relay skips) and asks for a fetch now.
    """
    from bot.slack.channels import ensure_case_channel

    channel = await ensure_case_channel(runtime, case)
    await runtime.stores.follows.follow(case.id)
    try:
        await runtime.slack.conversations_invite(channel=channel.id, users=user_id)
    except SlackApiError as exc:
        if slack_error(exc) != "already_in_channel":
            raise
    return build_follow_result(case, channel.id, created=channel.created)


async def unfollow_case(runtime: Runtime, case: Case) -> Message:
    """Stop relaying the case: out of the followed set, into the unfollowed one (the relay skips it,
    whatever its lifecycle). The channel stays."""
    changed = await runtime.stores.follows.unfollow(case.id)
    return build_unfollow_result(case, was_followed=changed)


async def find_cases(runtime: Runtime, refs: Sequence[str], *, command: str) -> Message:
    """`/case find <partner references>`: one batch query, a line per reference."""
    found = await runtime.debitura.get_cases_by_partner_references(list(refs))
    return build_find_result(refs, found, command=command)


async def note_target(runtime: Runtime, ref: str | None, text: str, *, channel_id: str | None
                      ) -> tuple[Case, str]:
    """The case and text of `/case note ...`.

    In a case's channel, `/case note Answered the phone` has a first word shaped like a reference
    (8 letters). When no such case exists and the word has no digit, it was text: the note goes to
    the channel's case with the whole text. A ref with digits that is not found stays an error.
    """
    try:
        return await resolve_case(runtime, ref, channel_id=channel_id), text
    except NotFound:
        word = ref or ""
        if not word.isalpha():
            raise
        channel_case = await case_id_for_channel(runtime, channel_id)
        if channel_case is None:
            raise
        return await runtime.debitura.get_case(channel_case), f"{word} {text}".strip()
