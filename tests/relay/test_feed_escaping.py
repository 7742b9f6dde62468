"""Feed lines (CASEROOM_FEED_CHANNEL) are escaped exactly once, whatever kind of change they report.

The timeline and payment feeds used to carry the message's already-escaped `text`, which
`build_feed_line` escaped again: `R&D <team>` showed as `R&amp;amp;D &amp;lt;team&amp;gt;`.
"""

from __future__ import annotations

import hashlib

import pytest

from blocks.relay import build_feed_line
from bot.relay.diff import CaseState, Fetched, Settings, diff_case
from bot.relay.model import Delivery
from bot.store.snapshots import CaseSnap, ChatSnap, PaymentSnap, TimelineSnap

NOW = 1_800_000_000.0
HOSTILE = "R&D <team>"
ONCE = "R&amp;D &lt;team&gt;"
TWICE = ("&amp;amp;", "&amp;lt;", "&amp;gt;")
CASE = CaseSnap(id="c1", reference=HOSTILE, lifecycle="Active", lifecycle_display="Active",
                phase="Pre-legal", debtor=HOSTILE, outstanding="100.00", currency="EUR")


def _all_changes() -> list[Delivery]:
    """One delivery of every kind that has a feed line, each naming the hostile text."""
    state = CaseState(first_seen=NOW, case=CASE, topic="x", baselined={"chats", "timeline", "payments"})
    chat = ChatSnap(id="chat-1", created=NOW + 1, updated=0.0, role=1, role_label="Creditor", author=HOSTILE,
                    message=HOSTILE)
    item = TimelineSnap(fingerprint=hashlib.sha256(b"1").hexdigest(), date=NOW + 2, type="Note",
                        title=HOSTILE, description=HOSTILE, actor=HOSTILE)
    payment = PaymentSnap(id="p1", date=NOW + 3, amount="10.00", currency="EUR", recipient=HOSTILE,
                          method="x")
    paused = CASE.model_copy(update={"lifecycle": "Paused", "lifecycle_display": HOSTILE, "phase": HOSTILE,
                                     "date_updated": NOW + 4})
    first = diff_case(case_id="c1", state=state, seen={"pold": "5.00|EUR"}, now=NOW + 5, path="poll",
                      settings=Settings(),
                      fetched=Fetched(case=paused, chats=[chat], timeline=[item], payments=[payment]))
    closed = paused.model_copy(update={"lifecycle": "Closed", "lifecycle_display": "Closed",
                                       "close_code": HOSTILE, "date_updated": NOW + 6})
    second = diff_case(case_id="c1", state=first.state, seen={}, now=NOW + 7, path="poll",
                       settings=Settings(), fetched=Fetched(case=closed))
    return [d for d in [*first.deliveries, *second.deliveries] if d.feed]


def test_every_kind_of_change_has_a_feed_line() -> None:
    kinds = {d.kind for d in _all_changes()}
    assert {"chat", "timeline", "payment", "payment_deleted", "lifecycle", "phase", "closed"} <= kinds


@pytest.mark.parametrize("channel_id", ["C0FEED01", None])
@pytest.mark.parametrize("delivery", _all_changes(), ids=lambda d: d.kind)
def test_feed_line_is_escaped_exactly_once(delivery: Delivery, channel_id: str | None) -> None:
    line = build_feed_line(reference=CASE.reference, summary=delivery.feed, channel_id=channel_id)
    assert not any(twice in line for twice in TWICE), line
    assert "<team>" not in line and "R&D" not in line
    if delivery.kind in ("chat", "timeline", "lifecycle", "phase", "closed"):
        assert ONCE in line, line
    if delivery.kind.startswith("payment"):
        assert "payment of 10.00 EUR registered" in line or "payment of 5.00 EUR deleted" in line
