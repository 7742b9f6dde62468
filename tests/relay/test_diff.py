"""The diff: baseline on first sight, new items once, edits, timeline dedupe, payments, lifecycle."""

from __future__ import annotations

import hashlib

from bot.relay.diff import CaseState, Fetched, Settings, chat_field, diff_case, payment_field, timeline_field
from bot.store.snapshots import CaseSnap, ChatSnap, PaymentSnap, TimelineSnap

NOW = 1_800_000_000.0
CASE = CaseSnap(id="c1", reference="Q8OAXF3W", lifecycle="Active", lifecycle_display="Active",
                phase="Pre-legal", debtor="Acme <b>", outstanding="100.00", currency="EUR")


def chat(i: int, created: float, updated: float = 0.0, role: int = 1, message: str = "hello") -> ChatSnap:
    return ChatSnap(id=f"chat-{i}", created=created, updated=updated, role=role, role_label="Creditor",
                    author="Ann Smith", message=message)


def fp(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def tl(i: int, date: float) -> TimelineSnap:
    return TimelineSnap(fingerprint=fp(i), date=date, type="Note", title=f"Item {i}", description="d",
                        actor="System")


def apply(seen: dict[str, str], result_seen_set: dict[str, str], dels: list[str]) -> dict[str, str]:
    out = dict(seen)
    out.update(result_seen_set)
    for f in dels:
        out.pop(f, None)
    return out


def test_diff_first_sight_is_baseline() -> None:
    state = CaseState(first_seen=NOW, case=CASE)
    r = diff_case(case_id="c1", state=state, seen={}, now=NOW + 10, path="poll", settings=Settings(),
                  fetched=Fetched(chats=[chat(1, NOW - 100)], timeline=[tl(1, NOW - 50)]))
    assert r.deliveries == []
    assert r.state.baselined == {"chats", "timeline"}
    assert chat_field("chat-1") in r.seen_set and timeline_field(fp(1)) in r.seen_set


def test_diff_items_after_first_sight_are_posted_even_at_baseline() -> None:
    state = CaseState(first_seen=NOW, case=CASE)
    r = diff_case(case_id="c1", state=state, seen={}, now=NOW + 10, path="poll", settings=Settings(),
                  fetched=Fetched(chats=[chat(1, NOW - 100), chat(2, NOW + 5)]))
    assert [d.id for d in r.deliveries] == ["chat:chat-2"]


def test_diff_backfill_posts_latest_n() -> None:
    state = CaseState(first_seen=NOW, case=CASE)
    r = diff_case(case_id="c1", state=state, seen={}, now=NOW, path="poll", settings=Settings(backfill=2),
                  fetched=Fetched(chats=[chat(1, NOW - 300), chat(2, NOW - 100)],
                                  timeline=[tl(1, NOW - 200), tl(2, NOW - 400)]))
    ids = [d.id for d in r.deliveries]
    assert "chat:chat-2" in ids and any(i.startswith("tl:") for i in ids) and "chat:chat-1" not in ids
    assert sum(1 for d in r.deliveries if d.kind == "timeline") == 1


def test_diff_new_chat_once_then_edit_updates() -> None:
    state = CaseState(first_seen=NOW, case=CASE, baselined={"chats"})
    r1 = diff_case(case_id="c1", state=state, seen={}, now=NOW + 10, path="poll", settings=Settings(),
                   fetched=Fetched(chats=[chat(1, NOW + 1)]))
    assert [d.id for d in r1.deliveries] == ["chat:chat-1"]
    seen = apply({}, r1.seen_set, r1.seen_del)
    r2 = diff_case(case_id="c1", state=r1.state, seen=seen, now=NOW + 20, path="poll", settings=Settings(),
                   fetched=Fetched(chats=[chat(1, NOW + 1)]))
    assert r2.deliveries == []
    r3 = diff_case(case_id="c1", state=r2.state, seen=seen, now=NOW + 30, path="poll", settings=Settings(),
                   fetched=Fetched(chats=[chat(1, NOW + 1, updated=NOW + 25, message="hello again")]))
    assert [(d.op, d.kind) for d in r3.deliveries] == [("update", "chat_edit")]
    assert "edited" in str(r3.deliveries[0].blocks)


def test_diff_edit_of_baseline_chat_posts_nothing() -> None:
    state = CaseState(first_seen=NOW, case=CASE, baselined={"chats"})
    seen = {chat_field("chat-1"): f"{NOW - 100:.3f}|0"}
    r = diff_case(case_id="c1", state=state, seen=seen, now=NOW, path="poll", settings=Settings(),
                  fetched=Fetched(chats=[chat(1, NOW - 100, updated=NOW - 5)]))
    assert r.deliveries == []
    assert r.seen_set[chat_field("chat-1")].startswith(f"{NOW - 5:.3f}|")


def test_diff_timeline_burst_grouped_and_deduped() -> None:
    state = CaseState(first_seen=NOW, case=CASE, baselined={"timeline"})
    items = [tl(i, NOW + i) for i in range(25)] + [tl(3, NOW + 3)]  # a duplicate in the same answer
    r = diff_case(case_id="c1", state=state, seen={}, now=NOW + 60, path="poll", settings=Settings(),
                  fetched=Fetched(timeline=items))
    assert [d.kind for d in r.deliveries] == ["timeline", "timeline"]  # 20 + 5
    assert len({d.id for d in r.deliveries}) == 2
    seen = apply({}, r.seen_set, r.seen_del)
    again = diff_case(case_id="c1", state=r.state, seen=seen, now=NOW + 70, path="poll", settings=Settings(),
                      fetched=Fetched(timeline=items))
    assert again.deliveries == []


def test_diff_payments_created_and_deleted() -> None:
    state = CaseState(first_seen=NOW, case=CASE, baselined={"payments"})
    p = PaymentSnap(id="p1", date=NOW + 1, amount="10.00", currency="EUR", recipient="Creditor",
                    method="Bank")
    r = diff_case(case_id="c1", state=state, seen={}, now=NOW + 5, path="webhook", settings=Settings(),
                  fetched=Fetched(payments=[p]))
    assert [d.id for d in r.deliveries] == ["pay:p1"]
    seen = apply({}, r.seen_set, r.seen_del)
    r2 = diff_case(case_id="c1", state=r.state, seen=seen, now=NOW + 9, path="webhook", settings=Settings(),
                   fetched=Fetched(payments=[]))
    assert [d.kind for d in r2.deliveries] == ["payment_deleted"]
    assert r2.seen_del == [payment_field("p1")]
    assert "10.00" in r2.deliveries[0].text


def test_diff_lifecycle_phase_close_and_reopen() -> None:
    state = CaseState(first_seen=NOW, case=CASE, topic="x")
    paused = CASE.model_copy(update={"lifecycle": "Paused", "lifecycle_display": "Paused", "phase": "Legal",
                                     "date_updated": NOW + 1})
    r = diff_case(case_id="c1", state=state, seen={}, now=NOW + 2, path="sweep", settings=Settings(),
                  fetched=Fetched(case=paused))
    assert [d.kind for d in r.deliveries] == ["lifecycle", "phase", "summary", "topic"]
    closed = paused.model_copy(update={"lifecycle": "Closed", "lifecycle_display": "Closed",
                                       "close_code": "Paid", "date_updated": NOW + 3})
    r2 = diff_case(case_id="c1", state=r.state, seen={}, now=NOW + 4, path="webhook", settings=Settings(),
                   fetched=Fetched(case=closed))
    assert [d.op for d in r2.deliveries] == ["post", "summary", "archive", "topic"]
    assert r2.deliveries[0].kind == "closed"
    reopened = closed.model_copy(update={"lifecycle": "Active", "lifecycle_display": "Active",
                                         "date_updated": NOW + 5})
    r3 = diff_case(case_id="c1", state=r2.state, seen={}, now=NOW + 6, path="webhook", settings=Settings(),
                   fetched=Fetched(case=reopened))
    assert [d.op for d in r3.deliveries][:3] == ["unarchive", "post", "summary"]
    assert r3.deliveries[1].kind == "reopened"


def test_diff_close_without_archive_setting() -> None:
    state = CaseState(first_seen=NOW, case=CASE, topic="x")
    closed = CASE.model_copy(update={"lifecycle": "Closed", "lifecycle_display": "Closed"})
    r = diff_case(case_id="c1", state=state, seen={}, now=NOW, path="poll",
                  settings=Settings(archive_on_close=False), fetched=Fetched(case=closed))
    assert "archive" not in [d.op for d in r.deliveries]


def test_case_state_round_trip() -> None:
    state = CaseState(first_seen=NOW, case=CASE, topic="t", baselined={"chats", "payments"},
                      last_activity=NOW)
    assert CaseState.from_hash(state.to_hash()) == state


def test_diff_chats_with_the_same_timestamp_keep_the_api_order() -> None:
    """Debitura lists chats oldest first; a tie (same millisecond) keeps that order, not the ids'."""
    state = CaseState(first_seen=NOW, case=CASE, baselined={"chats"})
    same = NOW + 5
    listed = [chat(9, same), chat(3, same), chat(7, same), chat(1, NOW + 6)]
    r = diff_case(case_id="c1", state=state, seen={}, now=NOW + 10, path="poll", settings=Settings(),
                  fetched=Fetched(chats=listed))
    assert [d.id for d in r.deliveries] == ["chat:chat-9", "chat:chat-3", "chat:chat-7", "chat:chat-1"]


def test_diff_timeline_item_announcing_a_chat_is_not_posted_twice() -> None:
    """Debitura logs a "chat message" timeline entry per chat: the chat is posted, its echo is not
    (but it is remembered, and other items of the same moment still are posted)."""
    state = CaseState(first_seen=NOW - 1000, case=CASE, baselined={"chats", "timeline"})
    echo = TimelineSnap(fingerprint=fp(50), date=NOW + 0.4, type="Communication", title="Chat message",
                        description="Creditor wrote a chat message.", actor="Ann Smith")
    upload = TimelineSnap(fingerprint=fp(51), date=NOW + 0.5, type="Document", title="File uploaded",
                          description="invoice.pdf", actor="Ann Smith")
    late_echo = TimelineSnap(fingerprint=fp(52), date=NOW + 600, type="Communication", title="Chat message",
                             description="Creditor wrote a chat message.", actor="Ann Smith")
    r = diff_case(case_id="c1", state=state, seen={}, now=NOW + 700, path="poll", settings=Settings(),
                  fetched=Fetched(chats=[chat(1, NOW)], timeline=[echo, upload, late_echo]))
    kinds = [d.kind for d in r.deliveries]
    assert kinds.count("chat") == 1
    timeline_text = " ".join(str(d.blocks) for d in r.deliveries if d.kind == "timeline")
    assert "File uploaded" in timeline_text
    # an item about a chat with no chat of that moment in the fetch is still relayed
    assert "Chat message" in timeline_text and timeline_text.count("Chat message") == 1
    assert timeline_field(fp(50)) in r.seen_set  # remembered: never posted later either
    # without the chats in the fetch (a timeline-only read) nothing is suppressed
    r2 = diff_case(case_id="c1", state=state, seen={}, now=NOW + 700, path="poll", settings=Settings(),
                   fetched=Fetched(timeline=[echo]))
    assert [d.kind for d in r2.deliveries] == ["timeline"]


def test_diff_payment_edit_is_posted_once_and_old_seen_values_are_upgraded_quietly() -> None:
    state = CaseState(first_seen=NOW, case=CASE, baselined={"payments"})
    p = PaymentSnap(id="p1", date=NOW + 1, amount="10.00", currency="EUR", recipient="Creditor",
                    method="Bank")
    old_format = {payment_field("p1"): "10.00|EUR"}  # stored by an earlier release: amount|currency
    quiet = diff_case(case_id="c1", state=state, seen=old_format, now=NOW + 5, path="poll",
                      settings=Settings(), fetched=Fetched(payments=[p]))
    assert quiet.deliveries == [] and quiet.seen_set[payment_field("p1")].startswith("10.00|EUR|")
    seen = apply(old_format, quiet.seen_set, quiet.seen_del)
    edited = PaymentSnap(id="p1", date=NOW + 1, amount="12.50", currency="EUR", recipient="Creditor",
                         method="Bank")
    r = diff_case(case_id="c1", state=quiet.state, seen=seen, now=NOW + 9, path="sweep", settings=Settings(),
                  fetched=Fetched(payments=[edited]))
    assert [d.kind for d in r.deliveries] == ["payment_edited"]
    assert "10.00 EUR" in str(r.deliveries[0].blocks) and "12.50 EUR" in str(r.deliveries[0].blocks)
    again = diff_case(case_id="c1", state=r.state, seen=apply(seen, r.seen_set, r.seen_del), now=NOW + 12,
                      path="poll", settings=Settings(), fetched=Fetched(payments=[edited]))
    assert again.deliveries == []
    # Only the date moved: still an edit, said as such.
    moved = PaymentSnap(id="p1", date=NOW + 86_400, amount="12.50", currency="EUR", recipient="Creditor",
                        method="Bank")
    r3 = diff_case(case_id="c1", state=r.state, seen=apply(seen, r.seen_set, r.seen_del), now=NOW + 15,
                   path="poll", settings=Settings(), fetched=Fetched(payments=[moved]))
    assert [d.kind for d in r3.deliveries] == ["payment_edited"] and "edited" in r3.deliveries[0].text


def test_diff_test_case_messages_are_labelled() -> None:
    test_case = CASE.model_copy(update={"is_test": True})
    state = CaseState(first_seen=NOW, case=test_case, baselined={"chats"})
    r = diff_case(case_id="c1", state=state, seen={}, now=NOW + 10, path="poll", settings=Settings(),
                  fetched=Fetched(case=test_case.model_copy(update={"lifecycle": "Paused"}),
                                  chats=[chat(1, NOW + 5)]))
    posted = [d for d in r.deliveries if d.op == "post"]
    assert posted and all(":test_tube: *Test case*" in str(d.blocks[0]) for d in posted)
    assert all(d.feed.startswith("Test case · ") for d in posted)
    topic = next(d for d in r.deliveries if d.op == "topic")
    assert topic.text.startswith("Test case · ")
