"""Text for Block Kit: mrkdwn escaping, money and date formatting, truncation to Slack's limits.

Every string that comes from the Debitura API (names, descriptions, chat texts...) goes through
`esc()` before it is put into mrkdwn, so `<!channel>`, `<http://x|y>` or a stray `&` in a debtor's
name is shown as typed and never pings or links. Plain-text fields (headers, button labels) are
not escaped by Slack's rules but are truncated the same way.

Also holds the small element constructors the builders share (section, header, button...), each of
which enforces the corresponding Slack limit.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

# Slack limits (docs/slack/PLATFORM.md, section 3).
MAX_MESSAGE_BLOCKS = 50
MAX_MODAL_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_MESSAGE_TEXT = 40_000
MAX_FALLBACK_TEXT = 3000
"""We keep notification (`text`) fallbacks short; Slack would accept 40,000."""

ELLIPSIS = "…"
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")

Block = dict[str, Any]


def esc(value: object) -> str:
    """Escape a value for mrkdwn (`&`, `<`, `>`). None becomes an empty string."""
    if value is None:
        return ""
    text = str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, ending with an ellipsis when cut.

    Never leaves half of an escape entity (`&am`) at the end of escaped text.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    cut = _PARTIAL_ENTITY.sub("", cut)
    return cut + ELLIPSIS


def esc_trunc(value: object, limit: int) -> str:
    """Escape for mrkdwn, then truncate to `limit` (limits count escaped characters)."""
    return truncate(esc(value), limit)


def one_line(value: object) -> str:
    """Collapse whitespace and newlines to single spaces (for list rows and context lines)."""
    return " ".join(str(value or "").split())


def quote(text: str) -> str:
    """Quote (mrkdwn `>`) each line of already-escaped text."""
    return "\n".join(f">{line}" for line in text.splitlines() or [""])


# --- money, numbers and dates -------------------------------------------------------------------

def _as_decimal(amount: Decimal | float | int | str) -> Decimal:
    if isinstance(amount, Decimal):
        return amount
    try:
        return Decimal(str(amount))
    except InvalidOperation:
        raise ValueError(f"not a number: {amount!r}") from None


def format_amount(amount: Decimal | float | int | str | None) -> str:
    """`1234.5` -> `1,234.50`; None -> `—`. Rounds half up to cents (amounts are case currency)."""
    if amount is None:
        return "—"
    value = _as_decimal(amount)
    if not value.is_finite():
        return "—"
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"


def format_money(amount: Decimal | float | int | str | None, currency: str | None) -> str:
    """`1,234.50 EUR`; the currency code is appended when known."""
    text = format_amount(amount)
    if amount is None or not currency:
        return text
    return f"{text} {esc(currency)}"


def format_date(value: date | datetime | None) -> str:
    """ISO date (`2026-04-07`), the date part in UTC for datetimes; None -> `—`."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.date().isoformat()
    return value.isoformat()


def format_datetime(value: datetime | None) -> str:
    """`2026-04-07 10:34 UTC`; naive datetimes are taken as UTC."""
    if value is None:
        return "—"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def days_left(end: date | datetime | None, *, today: date) -> int | None:
    """Whole days from `today` to `end` (negative once past)."""
    if end is None:
        return None
    end_day = end.astimezone(UTC).date() if isinstance(end, datetime) and end.tzinfo else (
        end.date() if isinstance(end, datetime) else end
    )
    return (end_day - today).days


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else (words or word + 's')}"


# --- element constructors (each enforces its limit) ----------------------------------------------

def mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(text or " ", limit)}


def plain(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text or " ", limit), "emoji": True}


def section(text: str, *, fields: list[str] | None = None, accessory: dict[str, Any] | None = None,
            block_id: str | None = None) -> Block:
    """A section with mrkdwn text (already escaped) and optional fields (at most 10)."""
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if fields:
        block["fields"] = [mrkdwn(f, MAX_FIELD_TEXT) for f in fields[:MAX_FIELDS]]
    if accessory is not None:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id
    return block


def fields_section(fields: list[str]) -> Block:
    """A section made of fields only (at most 10, each at most 2,000 characters)."""
    return {"type": "section", "fields": [mrkdwn(f, MAX_FIELD_TEXT) for f in fields[:MAX_FIELDS]]}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, MAX_HEADER_TEXT)}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:MAX_CONTEXT_ELEMENTS]]}


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str | None = None, *, style: str | None = None,
           confirm: dict[str, Any] | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "text": plain(text, MAX_BUTTON_TEXT), "action_id": action_id}
    if value is not None:
        element["value"] = value
    if style in ("primary", "danger"):
        element["style"] = style
    if confirm is not None:
        element["confirm"] = confirm
    return element


def actions(elements: list[dict[str, Any]], block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": elements[:MAX_ACTIONS_ELEMENTS]}
    if block_id:
        block["block_id"] = block_id
    return block
