"""Pure parts of DMs, reminders and digests (issue 13, B): quiet hours, who may get a DM, thresholds,
the DMs a diff owes, the block builders, and the fake Slack's DM rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from blocks.notify import (
    CaseLine,
    DigestItem,
    build_assigned_dm,
    build_digest,
    build_reminder,
    build_team_digest,
)
from bot.attention.queue import QueueItem, Section
from bot.relay.attention import due_reminders, still_holds
from bot.relay.dms import quiet_until, refusal_of, wanted, zone_of
from bot.relay.model import Delivery
from bot.relay.notices import day_counts, notices
from bot.store.attention import DmKind, Prefs, ReminderKind
from bot.store.notify import Person
from bot.store.snapshots import CaseSnap, ChatSnap, PaymentSnap
from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.validation import assert_valid_message

HOUR = 3600.0
DAY = 24 * HOUR


def at(text: str, zone: Any = UTC) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


# --- quiet hours -----------------------------------------------------------------------------------

def test_quiet_hours_wrap_midnight_and_end_in_the_morning() -> None:
    quiet = (18 * 60, 8 * 60)
    assert quiet_until(at("2026-12-03T12:00"), UTC, quiet) is None
    assert quiet_until(at("2026-12-03T19:30"), UTC, quiet) == at("2026-12-04T08:00")
    assert quiet_until(at("2026-12-04T07:59"), UTC, quiet) == at("2026-12-04T08:00")
    assert quiet_until(at("2026-12-04T08:00"), UTC, quiet) is None
    assert quiet_until(at("2026-12-03T19:30"), UTC, None) is None


def test_quiet_hours_in_the_persons_zone() -> None:
    cph = ZoneInfo("Europe/Copenhagen")
    # 17:30 UTC is 18:30 in Copenhagen (winter): quiet until 08:00 there, 07:00 UTC
    assert quiet_until(at("2026-12-03T17:30"), cph, (18 * 60, 8 * 60)) == at("2026-12-04T07:00")
    person = Person(email="x", tz="Nowhere/Invalid", tz_offset=-5 * 3600)
    assert zone_of(person) == timezone(timedelta(hours=-5))


def test_weekends_wait_for_monday_unless_asked() -> None:
    saturday = at("2026-12-05T11:00")  # a Saturday
    assert quiet_until(saturday, UTC, (18 * 60, 8 * 60), weekends=False) == at("2026-12-07T08:00")
    assert quiet_until(saturday, UTC, (18 * 60, 8 * 60), weekends=True) is None


# --- who may get a DM ------------------------------------------------------------------------------

def test_refusal_follows_the_identity_rules() -> None:
    base = {"id": "U1", "team_id": "T1"}
    assert refusal_of(base, "T1", None) == ""
    assert refusal_of({**base, "deleted": True}, "T1", None) == "deactivated"
    assert refusal_of({**base, "is_bot": True}, "T1", None) == "bot"
    assert refusal_of({**base, "is_restricted": True}, "T1", None) == "guest"
    assert refusal_of({**base, "is_ultra_restricted": True}, "T1", None) == "guest"
    assert refusal_of({**base, "team_id": "T2"}, "T1", None) == "external"
    assert refusal_of({**base, "is_stranger": True}, "T1", None) == "external"
    grid = {**base, "team_id": "T2", "enterprise_user": {"enterprise_id": "E1"}}
    assert refusal_of(grid, "T1", "E1") == "", "the same Enterprise Grid org"


def test_preferences_gate_each_kind() -> None:
    prefs = Prefs(dms=frozenset({DmKind.assigned}), reminders=frozenset({ReminderKind.reply}), digest=False)
    assert wanted(prefs, "dm:assigned") and not wanted(prefs, "dm:creditor_chat")
    assert wanted(prefs, "reminder:reply") and not wanted(prefs, "reminder:exclusive")
    assert not wanted(prefs, "digest")
    assert wanted(prefs, "")


# --- reminders -------------------------------------------------------------------------------------

def item(section: Section, since: float = 0.0, due: float = 0.0) -> QueueItem:
    return QueueItem(case_id="c1", reference="R", debtor="", amount="", currency="", section=section,
                     since=since, due=due)


def test_exclusive_thresholds_cross_one_by_one() -> None:
    now = at("2026-12-03T12:00")
    end = now + 10 * DAY
    due, holding = due_reminders([item(Section.exclusive_ending, since=end, due=end)], now=now, sla_hours=24,
                                 activation_hours=48, exclusive_days=[14, 7, 1])
    assert [d.threshold for d in due] == [14]
    assert holding == {f"exclusive|{end:.0f}"}
    due, _ = due_reminders([item(Section.exclusive_ending, since=end, due=end)], now=end - 5 * DAY,
                           sla_hours=24, activation_hours=48, exclusive_days=[14, 7, 1])
    assert sorted(d.threshold for d in due) == [7, 14]


def test_reply_and_activation_thresholds_and_clearing() -> None:
    now = at("2026-12-03T12:00")
    items = [item(Section.creditor_waiting, since=now - 25 * HOUR),
             item(Section.waiting_activation, since=now - 47 * HOUR)]
    due, holding = due_reminders(items, now=now, sla_hours=24, activation_hours=48, exclusive_days=[14])
    assert [d.kind for d in due] == ["reply"]
    assert due[0].field == f"reply:24:{now - 25 * HOUR:.0f}"
    assert still_holds(due[0].field, holding)
    assert still_holds(f"activation:48:{now - 47 * HOUR:.0f}", holding)
    assert not still_holds(f"reply:24:{now - 99 * HOUR:.0f}", holding), "an older chat's marker is cleared"
    assert not still_holds("exclusive:7:123", holding)


# --- the DMs a diff owes ---------------------------------------------------------------------------

def snap(**kw: Any) -> CaseSnap:
    values: dict[str, Any] = {"id": "case-1", "reference": "ABCD1234", "lifecycle": "Active",
                              "assignee_email": "Anna@Agency.example", "date_updated": 1000.0}
    values.update(kw)
    return CaseSnap(**values)


def test_assignment_change_and_first_webhook_owe_an_assigned_dm() -> None:
    old, new = snap(assignee_email="bo@agency.example"), snap()
    out = notices(case_id="case-1", old=old, new=new, out=[], chats=None, payments=None, path="poll",
                  now=2000)
    assert [d.kind for d in out] == ["dm_assigned"]
    assert out[0].lane == "dm:anna@agency.example" and out[0].to == "anna@agency.example"
    assert out[0].id.startswith("dm:assigned:case-1:")
    same = notices(case_id="case-1", old=new, new=new, out=[], chats=None, payments=None, path="poll",
                   now=2000)
    assert same == []
    first = notices(case_id="case-1", old=new, new=new, out=[], chats=None, payments=None, path="webhook",
                    now=2000, first_fetch=True)
    assert [d.kind for d in first] == ["dm_assigned"], "the sweep stored the listed case before the fetch"
    old_case = notices(case_id="case-1", old=None, new=snap(created=1.0), out=[], chats=None, payments=None,
                       path="poll", now=10 * DAY, first_fetch=True)
    assert old_case == [], "an old case found on a first start owes nothing"
    unassigned = notices(case_id="case-1", old=None, new=snap(assignee_email=""), out=[], chats=None,
                         payments=None, path="webhook", now=2000, first_fetch=True)
    assert unassigned == []


def test_creditor_chats_payments_closes_owe_dms_partner_chats_do_not() -> None:
    case = snap()
    chats = [ChatSnap(id="ch1", created=1.0, updated=0.0, role=1, role_label="Creditor", author="Emma",
                      message="Hi"),
             ChatSnap(id="ch2", created=2.0, updated=0.0, role=0, role_label="Partner", author="Us",
                      message="Yo")]
    payments = [PaymentSnap(id="p1", date=3.0, amount="250.00", currency="EUR", recipient="", method="")]
    out = [Delivery(id="chat:ch1", case_id="case-1", kind="chat", op="post"),
           Delivery(id="chat:ch2", case_id="case-1", kind="chat", op="post"),
           Delivery(id="pay:p1", case_id="case-1", kind="payment", op="post"),
           Delivery(id="close:5", case_id="case-1", kind="closed", op="post", case=snap(close_code="Paid"))]
    got = notices(case_id="case-1", old=case, new=snap(lifecycle="Closed", close_code="Paid"), out=out,
                  chats=chats, payments=payments, path="webhook", now=10.0)
    assert [d.kind for d in got] == ["dm_chat", "dm_payment", "dm_closed"]
    assert day_counts(out, payments) == {"pay:EUR": 250.0, "close:Paid": 1.0}
    backfill = [Delivery(id="chat:ch1", case_id="case-1", kind="chat", op="post", path="backfill")]
    assert notices(case_id="case-1", old=case, new=case, out=backfill, chats=chats, payments=None,
                   path="poll", now=10.0) == []


# --- blocks ----------------------------------------------------------------------------------------

def test_dm_builders_make_valid_messages_and_escape() -> None:
    line = CaseLine(case_id="case-1", reference="ABCD1234", debtor="<b>&co", outstanding="12.50",
                    currency="EUR", lifecycle="PendingVerification", lifecycle_display="Pending Verification")
    text, blocks = build_assigned_dm(line)
    assert_valid_message({"text": text, "blocks": blocks})
    assert "&lt;b&gt;&amp;co" in str(blocks) and "<b>" not in str(blocks)
    for kind in ("exclusive", "reply", "activation"):
        text, blocks = build_reminder(kind, line, threshold=7, since=1.0, now=DAY, end=2 * DAY)
        assert_valid_message({"text": text, "blocks": blocks})
    top = [DigestItem(label="Needs info", case=line)] * 9
    text, blocks = build_digest(counts=[("Needs info", 2)], top=top, day="2026-12-03")
    assert_valid_message({"text": text, "blocks": blocks})
    assert str(blocks).count("ABCD1234") == 5, "the top five items"
    text, blocks = build_team_digest(day="2026-12-02", payments={"EUR": 250.0}, closes={"Paid": 2},
                                     new_cases=3, overdue={"Anna": 2})
    assert_valid_message({"text": text, "blocks": blocks})
    assert "&lt;b&gt;" not in str(blocks) and "Anna" in str(blocks)


# --- the fake Slack's DM rules ---------------------------------------------------------------------

async def test_fake_slack_conversations_open_and_dm_rules() -> None:
    fake = FakeSlack()
    await fake.start()
    try:
        ws = fake.workspace
        alice = ws.add_user("alice")
        gone = ws.add_user("gone", deleted=True)
        headers = {"Authorization": f"Bearer {fake.bot_token}"}
        async with httpx.AsyncClient(base_url=fake.api_url, headers=headers) as http:
            async def call(method: str, **data: Any) -> dict[str, Any]:
                return (await http.post(method, data=data)).json()  # type: ignore[no-any-return]

            opened = await call("conversations.open", users=alice.id)
            assert opened["ok"] and opened["channel"]["id"].startswith("D")
            again = await call("conversations.open", users=alice.id, return_im="true")
            assert again["channel"]["id"] == opened["channel"]["id"] and again["already_open"]
            assert (await call("conversations.open", users="U0NOBODY"))["error"] == "user_not_found"
            assert (await call("conversations.open", users=gone.id))["error"] == "user_disabled"
            assert (await call("conversations.open", users=ws.BOT_USER_ID))["error"] == "cannot_dm_bot"
            assert (await call("conversations.open"))["error"] == "users_list_not_supplied"
            posted = await call("chat.postMessage", channel=opened["channel"]["id"], text="hi")
            assert posted["ok"]
            assert (await call("chat.postMessage", channel=gone.id, text="hi"))["error"] == "user_disabled"
            info = await call("users.info", user=alice.id)
            assert info["user"]["tz"] and "tz_offset" in info["user"]
    finally:
        await fake.stop()
