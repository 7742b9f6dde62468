from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from blocks.text import (
    button,
    days_left,
    esc,
    esc_trunc,
    format_amount,
    format_date,
    format_datetime,
    format_money,
    header,
    section,
    truncate,
)


def test_esc_escapes_the_three_control_characters() -> None:
    assert esc("<!channel> & <http://x|y>") == "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
    assert esc(None) == ""


def test_truncate_keeps_short_text_and_marks_cut_text() -> None:
    assert truncate("abc", 3) == "abc"
    assert truncate("abcdef", 4) == "abc…"
    assert len(truncate("x" * 10_000, 3000)) == 3000


def test_esc_trunc_never_leaves_half_an_entity() -> None:
    text = esc_trunc("a" * 8 + "&&&&", 12)
    assert text.endswith("…")
    assert "&am…" not in text and "&a…" not in text and "&…" not in text
    assert len(text) <= 12


def test_truncate_rejects_a_zero_limit() -> None:
    with pytest.raises(ValueError):
        truncate("abc", 0)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(Decimal("1234.5"), "1,234.50"), (Decimal("0.005"), "0.01"), (1, "1.00"), ("99.999", "100.00"),
     (None, "—"), (Decimal("NaN"), "—"), (Decimal("-12.3"), "-12.30")],
)
def test_format_amount(amount: Decimal | int | str | None, expected: str) -> None:
    assert format_amount(amount) == expected


def test_format_money_escapes_the_currency_and_skips_unknown_amounts() -> None:
    assert format_money(Decimal("250"), "EUR") == "250.00 EUR"
    assert format_money(None, "EUR") == "—"
    assert format_money(Decimal(1), "<x>") == "1.00 &lt;x&gt;"


def test_dates_are_shown_in_utc() -> None:
    late = datetime(2026, 4, 7, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert format_date(late) == "2026-04-08"
    assert format_datetime(late) == "2026-04-08 04:30 UTC"
    assert format_date(None) == "—"


def test_days_left_counts_whole_days_and_goes_negative() -> None:
    today = date(2026, 11, 26)
    assert days_left(datetime(2026, 12, 6, tzinfo=UTC), today=today) == 10
    assert days_left(date(2026, 11, 20), today=today) == -6
    assert days_left(None, today=today) is None


def test_constructors_enforce_slack_limits() -> None:
    assert len(header("h" * 500)["text"]["text"]) == 150
    assert len(section("s" * 5000)["text"]["text"]) == 3000
    assert len(button("b" * 100, "a")["text"]["text"]) == 75
    assert "style" not in button("b", "a", style="weird")
