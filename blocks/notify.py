"""Direct messages to a case's assignee, reminders and digests, as pure Block Kit builders.

Each builder returns `(text, blocks)` like blocks/relay.py: the fallback text is short and escaped,
Debitura's text is escaped with `esc()`, and every message stays within Slack's limits. DMs go to one
person (the app's Messages tab), so debtor names may appear; nothing here is posted in a channel
except the team digest, which names no debtor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from blocks.ids import Action
from blocks.metadata import CaseRef
from blocks.text import (
    MAX_FALLBACK_TEXT,
    MAX_SECTION_TEXT,
    Block,
    actions,
    button,
    context,
    esc,
    format_money,
    header,
    one_line,
    plural,
    section,
    truncate,
)

Message = tuple[str, list[Block]]
EXCERPT = 300
"""Characters of a creditor's chat quoted in a DM (the whole message is in the case channel)."""
TOP_ITEMS = 5


def _when(unix: float) -> str:
    if not unix:
        return "unknown time"
    fallback = datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(unix)}^{{date_short_pretty}} {{time}}|{fallback}>"


def _age(seconds: float) -> str:
    hours = max(0, int(seconds // 3600))
    if hours < 48:
        return plural(hours, "hour")
    return plural(hours // 24, "day")


@dataclass(frozen=True, slots=True)
class CaseLine:
    """The few case fields a DM shows."""

    case_id: str
    reference: str
    debtor: str = ""
    outstanding: str = ""
    currency: str = ""
    lifecycle: str = ""
    """Enum name (`PendingVerification`...)."""
    lifecycle_display: str = ""

    @property
    def ref(self) -> str:
        return self.reference or self.case_id[:8]

    def title(self) -> str:
        debtor = f" · {esc(one_line(self.debtor))}" if self.debtor else ""
        amount = f" · {format_money(self.outstanding, self.currency)}" if self.outstanding else ""
        return f"*{esc(self.ref)}*{debtor}{amount}"


def _buttons(case: CaseLine, *, activate: bool = False, reply: bool = False) -> Block:
    value = CaseRef(id=case.case_id, ref=case.ref).encode_value()
    elements = [button("Open card", Action.SHOW_CARD, value)]
    if activate:
        elements.insert(0, button("Activate", Action.OPEN_ACTIVATE, value, style="primary"))
    if reply:
        elements.insert(0, button("Reply", Action.REPLY, value, style="primary"))
    return actions(elements)


def _message(fallback: str, blocks: list[Block]) -> Message:
    return truncate(fallback, MAX_FALLBACK_TEXT), blocks


def build_assigned_dm(case: CaseLine) -> Message:
    pending = case.lifecycle == "PendingVerification"
    lead = ":inbox_tray: A case was assigned to you"
    state = esc(case.lifecycle_display or case.lifecycle or "unknown")
    hint = " It waits for activation: check it and start collection." if pending else ""
    blocks = [section(f"{lead}: {case.title()}\nStatus: {state}.{hint}"), _buttons(case, activate=pending)]
    return _message(f"Case {esc(case.ref)} was assigned to you", blocks)


def build_creditor_chat_dm(case: CaseLine, *, author: str, message: str, at: float) -> Message:
    excerpt = esc(truncate(one_line(message) or "(empty message)", EXCERPT))
    blocks = [
        section(f":speech_balloon: The creditor wrote on {case.title()}"),
        section(truncate(f"*{esc(one_line(author))}*, {_when(at)}:\n>{excerpt}", MAX_SECTION_TEXT)),
        _buttons(case, reply=True),
    ]
    return _message(f"Creditor chat on {esc(case.ref)}: {excerpt}", blocks)


def build_needs_info_dm(case: CaseLine) -> Message:
    blocks = [section(f":mag: Debitura's validation asks for more information on {case.title()}. "
                      "Open the case to see what is missing."), _buttons(case)]
    return _message(f"Case {esc(case.ref)} needs information", blocks)


def build_payment_dm(case: CaseLine, *, amount: str, currency: str) -> Message:
    money = format_money(amount, currency) if amount else "a payment"
    blocks = [section(f":moneybag: A payment of *{money}* was recorded on {case.title()}."), _buttons(case)]
    return _message(f"Payment of {money} recorded on {esc(case.ref)}", blocks)


def build_closed_dm(case: CaseLine, *, close_code: str) -> Message:
    code = esc(close_code) if close_code else "no close code"
    blocks = [section(f":white_check_mark: {case.title()} was closed ({code})."), _buttons(case)]
    return _message(f"Case {esc(case.ref)} was closed ({code})", blocks)


def build_reminder(kind: str, case: CaseLine, *, threshold: int, since: float = 0.0, now: float = 0.0,
                   end: float = 0.0) -> Message:
    """`kind`: `exclusive` (ends in `threshold` days), `reply` (creditor chat unanswered for
    `threshold` hours), `activation` (waiting `threshold` hours)."""
    if kind == "exclusive":
        days = plural(threshold, "day")
        line = (f":hourglass_flowing_sand: The exclusive period of {case.title()} ends in {days} "
                f"({_when(end)}).")
        fallback = f"Reminder: exclusive period of {esc(case.ref)} ends in {days}"
        buttons = _buttons(case)
    elif kind == "reply":
        waited = _age(now - since) if since and now else plural(threshold, "hour")
        line = f":alarm_clock: The creditor has been waiting {waited} for a reply on {case.title()}."
        fallback = f"Reminder: the creditor waits for a reply on {esc(case.ref)}"
        buttons = _buttons(case, reply=True)
    else:
        waited = _age(now - since) if since and now else plural(threshold, "hour")
        line = f":alarm_clock: {case.title()} has been waiting {waited} for activation."
        fallback = f"Reminder: {esc(case.ref)} waits for activation"
        buttons = _buttons(case, activate=True)
    return _message(fallback, [section(line), buttons])


@dataclass(frozen=True, slots=True)
class DigestItem:
    label: str
    """Which queue section (plain text, escaped here)."""
    case: CaseLine
    detail: str = ""


def build_digest(*, counts: Sequence[tuple[str, int]], top: Sequence[DigestItem], day: str) -> Message:
    """A person's morning digest: counts per queue section, then the top items."""
    total = sum(n for _, n in counts)
    lines = [f"• {esc(label)}: *{n}*" for label, n in counts if n] or ["Nothing waits for you today."]
    blocks: list[Block] = [header(f"Your cases this morning ({day})"), section("\n".join(lines))]
    if top:
        rows = [f"• {item.case.title()} · {esc(item.label)}"
                + (f" · {esc(item.detail)}" if item.detail else "") for item in top[:TOP_ITEMS]]
        blocks.append(section(truncate("*First up*\n" + "\n".join(rows), MAX_SECTION_TEXT)))
    blocks.append(context("Open Caseroom's Home tab for the whole list."))
    return _message(f"Your Caseroom digest: {plural(total, 'item')} need you", blocks)


def build_team_digest(*, day: str, payments: Mapping[str, float], closes: Mapping[str, int], new_cases: int,
                      overdue: Mapping[str, int]) -> Message:
    """The admins' digest for the day before: payments per currency, closes per close code, new cases,
    overdue replies per assignee. No debtor names: it may be posted in CASEROOM_DIGEST_CHANNEL."""
    pay = ", ".join(f"{format_money(f'{v:.2f}', c)}" for c, v in sorted(payments.items())) or "none"
    close = ", ".join(f"{esc(code)}: {n}" for code, n in sorted(closes.items())) or "none"
    ranked = sorted(overdue.items(), key=lambda kv: (-kv[1], kv[0]))
    late = "\n".join(f"• {esc(who)}: {n}" for who, n in ranked)
    blocks: list[Block] = [
        header(f"Team digest ({day})"),
        section(f"*Payments collected*: {pay}\n*Closes*: {close}\n*New cases*: {new_cases}"),
        section(truncate("*Overdue replies per assignee*\n" + (late or "none"), MAX_SECTION_TEXT)),
    ]
    return _message(f"Caseroom team digest for {day}", blocks)
