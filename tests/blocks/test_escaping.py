"""Every builder in blocks/, fed hostile text in every field Debitura or a person controls: the
notification text (`text`) and every mrkdwn text object are escaped exactly once (`&`, `<`, `>`), and
plain_text objects, which Slack does not parse, are not escaped at all.

The per-case views used to put the debtor's name unescaped into `text`, which Slack shows in
notifications: a debtor named `<!channel>` pinged the channel.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from blocks import card, chats, debtor, relay, summary, views
from blocks.card import CardOptions
from blocks.forms import CaseSummary
from blocks.metadata import ListPage
from blocks.relay import TimelineEntry
from blocks.text import esc
from bot.debitura.models import (
    Case,
    CaseFile,
    CasePage,
    Chat,
    ExclusivePeriod,
    Payment,
    Timeline,
    ValidationStatus,
)
from tests.blocks.factories import make_case
from tests.blocks.test_forms import all_views
from tests.blocks.walk import text_objects

HOSTILE = "<!channel> & <@U1>"
TODAY = date(2026, 11, 26)
SHARER = "U0SHARER1"

# What a builder may put in mrkdwn itself: channel links, dates, links to files, the sharer's mention.
OWN_CONTROLS = re.compile(
    r"<(#C[A-Z0-9]+|!date\^\d+\^[^|<>]*\|[^<>]*|https://[^|<>]+\|[^<>]*|@" + SHARER + r")>")
ENTITY = re.compile(r"&(amp|lt|gt);")
TWICE = ("&amp;amp;", "&amp;lt;", "&amp;gt;")


def hostile_case() -> Any:
    return make_case(
        debtor={"type": HOSTILE, "name": HOSTILE, "country": HOSTILE},
        creditor={"id": "0b6c2f0e-1111-4c6e-9d5f-3c1e8e1a2b3c", "companyName": HOSTILE,
                  "division": {"id": "d", "name": HOSTILE}},
        creditorReference=HOSTILE, claimDescription=HOSTILE, currency="E&<R",
        currentEngagementPhase=HOSTILE, assignedUser={"name": HOSTILE, "email": "a@b.example"},
        validation={"needsInfo": True},
    )


def hostile_data() -> dict[str, Any]:
    return {
        "timeline": Timeline.model_validate({"items": [{
            "date": "2026-11-01T10:00:00Z", "type": HOSTILE, "title": HOSTILE, "description": HOSTILE,
            "actor": {"type": HOSTILE, "name": HOSTILE}}], "currentEngagementPhase": HOSTILE}),
        "payments": [Payment.model_validate({
            "id": "00000000-0000-0000-0000-000000000001", "date": "2026-11-01T00:00:00Z", "grossAmount": 10,
            "recipient": HOSTILE, "method": HOSTILE, "currency": "E&<R",
            "invoice": {"status": HOSTILE, "reference": HOSTILE, "invoiceId": "1"}})],
        "files": [CaseFile.model_validate({
            "id": "f1", "dateCreated": "2026-03-01T00:00:00Z", "fileName": HOSTILE,
            "url": "https://files.example/1?a=1&b=<2>", "description": HOSTILE, "documentType": HOSTILE})],
        "period": ExclusivePeriod.model_validate({
            "engagementStartDate": "2026-06-06T00:00:00Z", "currentEndDate": "2026-12-06T00:00:00Z",
            "status": HOSTILE, "extensions": [{"type": HOSTILE, "eventDate": "2026-09-01T00:00:00Z",
                                                "newEndDate": "2026-12-06T00:00:00Z"}]}),
        "validation": ValidationStatus.model_validate({
            "needsInfo": True, "items": [{"resolutionArea": HOSTILE, "description": HOSTILE}]}),
    }


Message = dict[str, Any]


def messages() -> Iterator[tuple[str, Message]]:
    """(builder name, message) for every message builder, with hostile data everywhere."""
    case = hostile_case()
    d = hostile_data()
    yield "build_case_card", card.build_case_card(case, CardOptions(today=TODAY), d["validation"])
    shared = CardOptions(today=TODAY, shared=True, shared_by=SHARER)
    yield "build_case_card", card.build_case_card(case, shared)
    page = CasePage.model_validate({"cases": [case.model_dump(by_alias=True, mode="json")],
                                    "page": {"currentPage": 1, "totalPages": 2, "totalResults": 21}})
    yield "build_case_list", views.build_case_list(page, ListPage(page=1), command="/case")
    yield "build_find_result", views.build_find_result([HOSTILE, "INV-1"], {"INV-1": case})
    yield "build_timeline", views.build_timeline(case, d["timeline"], channel_id="C0CHANNEL1")
    yield "build_payments", views.build_payments(case, d["payments"], can_edit=True)
    yield "build_files", views.build_files(case, d["files"])
    yield "build_period", views.build_period(case, d["period"], today=TODAY)
    yield "build_validation", views.build_validation(case, d["validation"])
    yield "build_follow_result", views.build_follow_result(case, "C0CHANNEL1", created=True)
    yield "build_unfollow_result", views.build_unfollow_result(case, was_followed=True)
    yield "build_unfollow_result", views.build_unfollow_result(case, was_followed=False)
    yield "build_usage", views.build_usage("/case", problem=esc(HOSTILE), example=HOSTILE)
    yield "build_notice", views.build_notice(esc(HOSTILE))
    yield "build_loading", views.build_loading(HOSTILE)
    test_case = Case.model_validate({**case.model_dump(by_alias=True, mode="json"), "isTestCase": True})
    hostile_chats = [Chat.model_validate({
        "id": f"00000000-0000-0000-0000-00000000000{n}", "dateCreated": "2026-11-01T10:00:00Z",
        "role": n % 3, "roleLabel": HOSTILE if n else None, "message": HOSTILE * (n * 200 + 1),
        "isSeen": False,
        "user": {"id": 1, "firstName": HOSTILE, "lastName": HOSTILE, "email": "e@x.example"}})
        for n in range(3)]
    yield "build_chats", chats.build_chats(test_case, hostile_chats, channel_id="C0CHANNEL1")
    yield "build_chats", chats.build_chats(case, [], page=3)
    for name, (text, blocks) in relay_messages():
        yield name, {"text": text, "blocks": blocks}
    text, blocks = summary.build_summary(
        reference=HOSTILE, debtor=HOSTILE, principal="1", fees="2", outstanding="3", currency="E&<R",
        lifecycle=HOSTILE, phase=HOSTILE, period_end=1_800_000_000.0, needs_info=True, assignee=HOSTILE,
        is_test=True, today=TODAY)
    yield "build_summary", {"text": text, "blocks": blocks}


def relay_messages() -> Iterator[tuple[str, tuple[str, list[Any]]]]:
    when = 1_800_000_000.0
    for creditor in (True, False):
        yield "build_chat_message", relay.build_chat_message(
            case_id="c1", reference=HOSTILE, author=HOSTILE, role_label=HOSTILE, from_creditor=creditor,
            created=when, message=HOSTILE, edited_at=when + 5)
    entries = [TimelineEntry(date=when + i, title=HOSTILE, description=HOSTILE, actor=HOSTILE, type=HOSTILE)
               for i in range(25)]
    for message in relay.build_timeline_messages(reference=HOSTILE, entries=entries):
        yield "build_timeline_messages", message
    change: dict[str, Any] = {"reference": HOSTILE, "old": HOSTILE, "new": HOSTILE, "at": when}
    yield "build_lifecycle_message", relay.build_lifecycle_message(**change)
    yield "build_phase_message", relay.build_phase_message(**change)
    for deleted in (True, False):
        yield "build_payment_message", relay.build_payment_message(
            reference=HOSTILE, amount="10.00", currency="E&<R", recipient=HOSTILE, method=HOSTILE, date=when,
            deleted=deleted)
    yield "build_close_summary", relay.build_close_summary(
        reference=HOSTILE, debtor=HOSTILE, close_code=HOSTILE, outstanding="1.00", currency="E&<R", at=when,
        archived=True)
    yield "build_reopened_message", relay.build_reopened_message(reference=HOSTILE, lifecycle=HOSTILE,
                                                                 at=when)
    yield "build_payment_edit_message", relay.build_payment_edit_message(
        reference=HOSTILE, old_amount="5.00", old_currency="E&<R", amount="10.00", currency="E&<R",
        recipient=HOSTILE, method=HOSTILE, date=when, at=when + 1)


# Builders of other things than a message with blocks, checked on their own below.
NOT_MESSAGES = {"build_feed_line", "build_topic", "build_debtor_view"}


def assert_mrkdwn_escaped_once(text: str, where: str) -> None:
    assert not any(t in text for t in TWICE), f"{where}: escaped twice: {text[:300]!r}"
    bare = OWN_CONTROLS.sub("", text)
    assert "<" not in bare, f"{where}: unescaped '<': {text[:300]!r}"
    assert "&" not in ENTITY.sub("", bare), f"{where}: unescaped '&': {text[:300]!r}"
    assert "<!channel>" not in text and "<@U1>" not in text


def assert_plain_not_escaped(text: str, where: str) -> None:
    assert not ENTITY.search(text), f"{where}: plain_text shows escape codes: {text[:300]!r}"


def check_message(name: str, message: Message) -> None:
    assert_mrkdwn_escaped_once(message["text"], f"{name} text")
    for obj in text_objects(message["blocks"]):
        if obj["type"] == "mrkdwn":
            assert_mrkdwn_escaped_once(obj["text"], f"{name} mrkdwn")
        else:
            assert_plain_not_escaped(obj["text"], f"{name} plain_text")


@pytest.mark.parametrize(("name", "message"), list(messages()), ids=lambda v: v if isinstance(v, str) else "")
def test_builder_text_and_mrkdwn_are_escaped_exactly_once(name: str, message: Message) -> None:
    check_message(name, message)


def test_the_debtor_name_reaches_the_notification_text_escaped() -> None:
    """The views' `text` names the case and its debtor (it is what notifications show)."""
    d = hostile_data()
    case = hostile_case()
    for message in (views.build_timeline(case, d["timeline"]),
                    views.build_payments(case, d["payments"], can_edit=False),
                    views.build_files(case, d["files"]),
                    views.build_period(case, d["period"], today=TODAY),
                    views.build_validation(case, d["validation"])):
        assert "&lt;!channel&gt; &amp; &lt;@U1&gt;" in message["text"]


def test_feed_line_and_topic() -> None:
    for channel_id in (None, "C0FEED1"):
        line = relay.build_feed_line(reference=HOSTILE, summary=HOSTILE, channel_id=channel_id)
        assert_mrkdwn_escaped_once(line, "build_feed_line")
    # The topic is plain text (conversations.setTopic): never escape codes in it.
    topic = relay.build_topic(debtor=HOSTILE, outstanding="1", currency="EUR", lifecycle=HOSTILE,
                              phase=HOSTILE)
    assert_plain_not_escaped(topic, "build_topic")


def test_modal_views_escape_mrkdwn_once() -> None:
    case = CaseSummary(reference="Q8OAXF3W", debtor=HOSTILE, currency="EUR", remainder=Decimal("250.00"))
    for view in all_views(case):
        for obj in text_objects(view["blocks"]):
            if obj["type"] == "mrkdwn":
                assert_mrkdwn_escaped_once(obj["text"], f"{view['callback_id']} mrkdwn")


def test_every_message_builder_is_walked() -> None:
    """A new builder in blocks/ must join this walk (or NOT_MESSAGES with its own check)."""
    def builders(module: Any) -> set[str]:
        return {n for n, f in inspect.getmembers(module, inspect.isfunction)
                if n.startswith("build_") and f.__module__ == module.__name__}

    walked = {name for name, _ in messages()} | NOT_MESSAGES
    for module in (card, views, relay, chats, summary, debtor):
        assert builders(module) <= walked, builders(module) - walked
    # blocks.forms builders: every one is in all_views (tests/blocks/test_forms.py), walked above.


def test_debtor_view_escapes_mrkdwn_once() -> None:
    hostile = hostile_case().model_dump(by_alias=True, mode="json")
    hostile["debtor"] = {k: HOSTILE for k in ("type", "name", "contactPerson", "companyRegistrationNumber",
                                              "address", "zipCode", "city", "state", "country", "email",
                                              "phone")}
    hostile.update(claimType=HOSTILE, disputeStatus=HOSTILE, creditorComments=HOSTILE,
                   bankAccount={"label": HOSTILE, "accountHolderName": HOSTILE, "iban": HOSTILE,
                                "bankName": HOSTILE, "bankAddress": HOSTILE})
    view = debtor.build_debtor_view(Case.model_validate(hostile))
    for obj in text_objects(view["blocks"]):
        if obj["type"] == "mrkdwn":
            assert_mrkdwn_escaped_once(obj["text"], "debtor view mrkdwn")
        else:
            assert_plain_not_escaped(obj["text"], "debtor view plain_text")
