"""The queue: which section each case is in, who owns it, and the order (bot.attention.queue)."""

from __future__ import annotations

from bot.attention.queue import ADMINS, Section, build_queue, owner_of, sections_of, without
from bot.debitura.models import ChatRole
from bot.store.cases import CaseState
from bot.store.snapshots import CaseMarks, CaseSnap, ChatSnap, PaymentSnap, TrackedCase, next_marks

NOW = 1_800_000_000.0
DAY = 86400.0


def snap(
    case_id: str, *, lifecycle: str = "Active", email: str = "ana@partner.test", **extra: object
) -> CaseSnap:
    return CaseSnap.model_validate(
        {
            "id": case_id,
            "reference": case_id.upper()[:8],
            "lifecycle": lifecycle,
            "debtor": f"Debtor {case_id}",
            "outstanding": "100.00",
            "currency": "EUR",
            "assignee_email": email,
            **extra,
        }
    )


def tracked(case: CaseSnap, first_seen: float = NOW - 10 * DAY, **marks: object) -> TrackedCase:
    return TrackedCase(case=case, marks=CaseMarks.model_validate(marks), first_seen=first_seen)


def chat(created: float, role: int) -> ChatSnap:
    return ChatSnap(
        id=f"c{created}", created=created, updated=0.0, role=role, role_label="", author="", message="hi"
    )


def test_each_section_and_its_reason() -> None:
    pending = tracked(
        snap("p1", lifecycle="PendingVerification"), lc="PendingVerification", lc_since=NOW - 3 * DAY
    )
    waiting = tracked(snap("w1"), waiting_since=NOW - 2 * DAY)
    info = tracked(snap("n1", needs_info=True))
    ending = tracked(snap("e1", exclusive_end=NOW + 5 * DAY))
    far = tracked(snap("e2", exclusive_end=NOW + 30 * DAY))
    ended = tracked(snap("e3", exclusive_end=NOW - DAY))
    paid = tracked(snap("r1"), paid_at=NOW - DAY)
    paid_long_ago = tracked(snap("r2"), paid_at=NOW - 30 * DAY)
    closed = tracked(
        snap("x1", lifecycle="Closed", exclusive_end=NOW + DAY),
        closed_at=NOW - 2 * DAY,
        waiting_since=NOW - 9 * DAY,
    )
    sections = {
        t.case.id: [i.section for i in sections_of(t, now=NOW)]
        for t in (pending, waiting, info, ending, far, ended, paid, paid_long_ago, closed)
    }
    assert sections == {
        "p1": [Section.waiting_activation],
        "w1": [Section.creditor_waiting],
        "n1": [Section.needs_info],
        "e1": [Section.exclusive_ending],
        "e2": [],
        "e3": [],
        "r1": [Section.recently_paid],
        "r2": [],
        "x1": [Section.recently_closed],
    }
    [item] = sections_of(pending, now=NOW)
    assert item.age(NOW) == 3 * DAY and item.pending and item.reference == "P1"
    [item] = sections_of(ending, now=NOW)
    assert item.due == NOW + 5 * DAY
    # the window is a setting
    assert [i.section for i in sections_of(far, now=NOW, exclusive_days=31)] == [Section.exclusive_ending]


def test_lifecycle_since_falls_back_to_first_sight() -> None:
    case = tracked(snap("p1", lifecycle="PendingVerification"), first_seen=NOW - 7 * DAY)
    [item] = sections_of(case, now=NOW)
    assert item.since == NOW - 7 * DAY
    # marks about another lifecycle do not count
    stale = tracked(
        snap("p1", lifecycle="PendingVerification"), first_seen=NOW - 7 * DAY, lc="Active", lc_since=NOW - DAY
    )
    assert sections_of(stale, now=NOW)[0].since == NOW - 7 * DAY


def test_owners_and_order() -> None:
    cases = [
        tracked(
            snap("a1", lifecycle="PendingVerification", email="Ana@Partner.test"),
            lc="PendingVerification",
            lc_since=NOW - DAY,
        ),
        tracked(
            snap("a2", lifecycle="PendingVerification"), lc="PendingVerification", lc_since=NOW - 5 * DAY
        ),
        tracked(snap("a3", exclusive_end=NOW + 9 * DAY)),
        tracked(snap("a4", exclusive_end=NOW + 2 * DAY)),
        tracked(snap("a5"), paid_at=NOW - 3 * DAY),
        tracked(snap("a6"), paid_at=NOW - DAY),
        tracked(snap("b1", email="bo@partner.test", needs_info=True)),
        tracked(snap("u1", email="", needs_info=True)),
        tracked(snap("g1", email="ghost@partner.test", needs_info=True)),
        tracked(snap("q1")),  # nothing needs anyone
    ]
    users = {"ana@partner.test": "UANA", "bo@partner.test": "UBO", "ghost@partner.test": ""}
    queues = build_queue(cases, now=NOW, users=users)
    assert set(queues) == {"UANA", "UBO", ADMINS}
    ana = queues["UANA"].sections
    assert [i.case_id for i in ana[Section.waiting_activation]] == ["a2", "a1"]  # longest waiting first
    assert [i.case_id for i in ana[Section.exclusive_ending]] == ["a4", "a3"]  # soonest first
    assert [i.case_id for i in ana[Section.recently_paid]] == ["a6", "a5"]  # newest first
    assert queues["UANA"].counts()[Section.needs_info] == 0 and queues["UANA"].total == 6
    assert queues["UANA"].alarms == 4
    assert queues[ADMINS].case_ids() == {"u1", "g1"}  # unassigned and no Slack account
    assert owner_of(cases[0].case, None) == "ana@partner.test"
    assert set(build_queue(cases, now=NOW)) == {
        "ana@partner.test",
        "bo@partner.test",
        "ghost@partner.test",
        ADMINS,
    }
    assert without(queues["UANA"], {"a2", "a4"}).case_ids() == {"a1", "a3", "a5", "a6"}


def test_marks_follow_what_the_relay_fetched() -> None:
    pending = snap("p1", lifecycle="PendingVerification", date_updated=NOW - 100)
    first = next_marks(
        CaseMarks(), before=None, after=pending, chats=None, payments=None, first_seen=NOW - 50, now=NOW
    )
    assert (first.lc, first.lc_since) == ("PendingVerification", NOW - 50)  # first sight: since first seen
    active = snap("p1", date_updated=NOW + 10)
    moved = next_marks(
        first, before=pending, after=active, chats=None, payments=None, first_seen=NOW - 50, now=NOW + 20
    )
    assert (moved.lc, moved.lc_since) == ("Active", NOW + 10)  # the change's dateUpdated
    chats = [chat(NOW - 30, ChatRole.CREDITOR), chat(NOW - 20, ChatRole.CREDITOR)]
    waiting = next_marks(moved, before=active, after=None, chats=chats, payments=None, first_seen=0, now=NOW)
    assert (waiting.waiting_since, waiting.chat_role, waiting.chat_at) == (NOW - 30, 1, NOW - 20)
    answered = next_marks(
        waiting,
        before=active,
        after=None,
        chats=[*chats, chat(NOW - 10, 0)],
        payments=None,
        first_seen=0,
        now=NOW,
    )
    assert answered.waiting_since == 0.0 and answered.chat_role == 0
    again = next_marks(
        answered,
        before=active,
        after=None,
        chats=[*chats, chat(NOW - 10, 2), chat(NOW - 5, 1)],
        payments=None,
        first_seen=0,
        now=NOW,
    )
    assert again.waiting_since == NOW - 5
    pays = [
        PaymentSnap(
            id="x", date=NOW - 400, amount="1", currency="EUR", recipient="", method="", created=NOW - 300
        )
    ]
    paid = next_marks(again, before=active, after=None, chats=None, payments=pays, first_seen=0, now=NOW)
    assert paid.paid_at == NOW - 300 and paid.waiting_since == NOW - 5  # chats not read: kept
    closed = snap("p1", lifecycle="Closed", date_updated=NOW - 1)
    done = next_marks(paid, before=active, after=closed, chats=None, payments=None, first_seen=0, now=NOW)
    assert done.closed_at == NOW - 1
    finished = next_marks(
        paid,
        before=active,
        after=closed.model_copy(update={"finished": NOW - 60}),
        chats=None,
        payments=None,
        first_seen=0,
        now=NOW,
    )
    assert finished.closed_at == NOW - 60
    reopened = next_marks(done, before=closed, after=active, chats=None, payments=None, first_seen=0, now=NOW)
    assert reopened.closed_at == 0.0
    # first seen already closed, no dateFinished: when is unknown, so it is not "recently closed"
    assert (
        next_marks(
            CaseMarks(), before=None, after=closed, chats=None, payments=None, first_seen=NOW, now=NOW
        ).closed_at
        == 0.0
    )


def test_old_state_hashes_still_load() -> None:
    old = {"fs": "1700000000.000", "case": '{"id":"c1","reference":"R1","lifecycle":"Active"}', "topic": "t"}
    state = CaseState.from_hash(old)
    assert state.marks == CaseMarks() and state.case is not None and state.case.exclusive_end == 0.0
    assert "att" not in state.to_hash()
    state.marks = CaseMarks(waiting_since=5.0)
    again = CaseState.from_hash(state.to_hash())
    assert again.marks.waiting_since == 5.0
    found = again.tracked()
    assert found is not None and found.lifecycle_since == 1_700_000_000.0


def test_the_exclusive_end_is_one_field_under_both_names() -> None:
    """`period_end` (the pinned summary's name) is also read as `exclusive_end` (the attention contract's):
    snapshots stored under either key load, and both names read the same value."""
    stored = CaseSnap.model_validate_json('{"id":"c1","exclusive_end":1800000000.0}')
    assert stored.period_end == stored.exclusive_end == 1_800_000_000.0
    assert CaseSnap(id="c2", period_end=5.0).exclusive_end == 5.0
    assert '"period_end":5.0' in CaseSnap(id="c2", period_end=5.0).model_dump_json()


def test_state_per_case_stays_small() -> None:
    case = snap(
        "c" * 36,
        lifecycle="PendingVerification",
        debtor="D" * 120,
        assignee_name="N" * 60,
        close_code="Paid",
        date_updated=NOW,
        created=NOW,
        exclusive_end=NOW,
        needs_info=True,
        finished=NOW,
        phase="Pre-legal",
        lifecycle_display="Pending verification",
        outstanding="123456.78",
    )
    marks = CaseMarks(
        lc="PendingVerification",
        lc_since=NOW,
        chat_role=1,
        chat_at=NOW,
        waiting_since=NOW,
        paid_at=NOW,
        closed_at=NOW,
    )
    state = CaseState(
        first_seen=NOW,
        case=case,
        topic="T" * 250,
        baselined={"chats", "timeline", "payments"},
        last_activity=NOW,
        marks=marks,
    )
    size = sum(len(k) + len(v) for k, v in state.to_hash().items())
    assert size < 1200, size
