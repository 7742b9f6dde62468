"""App Home (issue 13): "My cases" by queue section, the admins' team view, paging within Block Kit's
100 blocks, and the notification settings modal. Pure builders of plain data (the service maps the
queue onto `HomeItem`/`HomeSection`); texts from Debitura are escaped.

Paging: the rows of every section (then the muted cases) form one list; each page holds as many as fit
in the blocks left after the fixed parts (a row is a section and its buttons: 2 blocks; a muted row 1),
at most `rows` rows. A section cut by a page break starts the next page again with "(continued)".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from blocks.forms import MAX_TITLE, checkboxes_element, input_block, option
from blocks.ids import Action, Block, Callback, Element
from blocks.metadata import CaseRef, HomeCase, HomePage
from blocks.text import (
    MAX_MODAL_BLOCKS,
    MAX_SECTION_TEXT,
    actions,
    button,
    context,
    divider,
    esc,
    esc_trunc,
    format_money,
    header,
    plain,
    section,
)

View = dict[str, Any]
MAX_HOME_BLOCKS = MAX_MODAL_BLOCKS
"""A Home tab holds at most 100 blocks, like a modal."""
MAX_TEAM_LINES = 40
ROW_BLOCKS = 2
MUTED_BLOCKS = 1
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class HomeItem:
    case_id: str
    reference: str
    debtor: str
    amount: str
    currency: str
    since: float = 0.0
    due: float = 0.0
    pending: bool = False


@dataclass
class HomeSection:
    key: str
    title: str
    items: list[HomeItem]
    alarm: bool = True


@dataclass(frozen=True, slots=True)
class TeamRow:
    who: str
    """Already mrkdwn: a mention (<@U...>), or an escaped email with a note."""
    counts: tuple[int, ...]


@dataclass
class HomeData:
    """Everything one Home shows (the service fills it from Redis only)."""

    now: float
    sections: list[HomeSection]
    muted: list[HomeItem] = field(default_factory=list)
    team: list[TeamRow] | None = None
    """The admins' team view (None: not an admin)."""
    team_titles: tuple[str, ...] = ()
    admin_queue: bool = False
    """This person's queue also holds the unassigned cases (and those whose assignee has no Slack account)."""
    page: int = 0
    rows: int = 25
    updated: str = ""
    """When the relay's data was last refreshed, as text ("" unknown)."""


def age_text(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(1, int(seconds // 60))} min"
    if seconds < 2 * DAY:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // DAY)} d"


def _when(item: HomeItem, key: str, now: float) -> str:
    if key == "exclusive_ending" and item.due:
        left = item.due - now
        return "ends today" if left < DAY else f"ends in {int(left // DAY)} d"
    if not item.since:
        return "since first seen"
    ago = age_text(max(0.0, now - item.since))
    if key in ("recently_paid", "recently_closed"):
        return f"{ago} ago"
    return f"waiting {ago}"


def _row_text(item: HomeItem, key: str, now: float) -> str:
    money = format_money(item.amount, item.currency) if item.amount else ""
    parts = [f"*{esc(item.reference or item.case_id[:8])}*", esc_trunc(item.debtor or "Unknown debtor", 120)]
    if money:
        parts.append(esc(money))
    parts.append(_when(item, key, now))
    return " · ".join(parts)


def _row(item: HomeItem, key: str, now: float, page: int) -> list[dict[str, Any]]:
    ref = CaseRef(id=item.case_id, ref=item.reference).encode_value()
    buttons = [button("Open card", Action.HOME_OPEN_CARD, ref), button("Reply", Action.HOME_REPLY, ref)]
    if item.pending:
        buttons.append(button("Activate", Action.HOME_ACTIVATE, ref, style="primary"))
    buttons.append(button("Follow", Action.HOME_FOLLOW, ref))
    buttons.append(button("Mute", Action.HOME_MUTE,
                          HomeCase(id=item.case_id, ref=item.reference, page=page).encode_value()))
    return [section(_row_text(item, key, now)), actions(buttons, block_id=f"home:{key}:{item.case_id}"[:255])]


def _muted_row(item: HomeItem, page: int) -> dict[str, Any]:
    value = HomeCase(id=item.case_id, ref=item.reference, page=page).encode_value()
    text = f"*{esc(item.reference or item.case_id[:8])}* · {esc_trunc(item.debtor or 'Unknown debtor', 120)}"
    return section(text, accessory=button("Unmute", Action.HOME_UNMUTE, value))


Entry = tuple[str, int]
"""(section key or "muted", index of the item in it)."""


def _entries(data: HomeData) -> list[Entry]:
    out: list[Entry] = []
    for sec in data.sections:
        out.extend((sec.key, i) for i in range(len(sec.items)))
    out.extend(("muted", i) for i in range(len(data.muted)))
    return out


def _cost(entry: Entry) -> int:
    return MUTED_BLOCKS if entry[0] == "muted" else ROW_BLOCKS


def paginate(entries: Sequence[Entry], *, budget: int, first_budget: int, rows: int) -> list[list[Entry]]:
    """Split the rows into pages: each page's rows and their section headings within its block budget."""
    pages: list[list[Entry]] = []
    current: list[Entry] = []
    used = 0
    limit = first_budget
    last_key = ""
    for entry in entries:
        cost = _cost(entry) + (1 if entry[0] != last_key or not current else 0)
        if current and (used + cost > limit or len(current) >= rows):
            pages.append(current)
            current, used, limit = [], 0, budget
            cost = _cost(entry) + 1
        current.append(entry)
        used += cost
        last_key = entry[0]
    if current or not pages:
        pages.append(current)
    return pages


def _team_blocks(data: HomeData) -> list[dict[str, Any]]:
    if data.team is None:
        return []
    blocks: list[dict[str, Any]] = [divider(), header("Team")]
    if not data.team:
        blocks.append(section("Nobody has anything waiting."))
        return blocks
    legend = " · ".join(esc(t) for t in data.team_titles)
    lines = [f"{row.who}: " + " · ".join(str(c) for c in row.counts) for row in data.team[:MAX_TEAM_LINES]]
    if len(data.team) > MAX_TEAM_LINES:
        lines.append(f"…and {len(data.team) - MAX_TEAM_LINES} more")
    chunk: list[str] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) + 1 > MAX_SECTION_TEXT - 100:
            blocks.append(section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        blocks.append(section("\n".join(chunk)))
    blocks.append(context(f"Counts per person: {legend}"))
    return blocks


def _top(data: HomeData) -> list[dict[str, Any]]:
    counts = [f"{esc(sec.title)}: *{len(sec.items)}*" for sec in data.sections if sec.items and sec.alarm]
    summary = " · ".join(counts) if counts else "Nothing needs you right now. :tada:"
    blocks = [header("My cases"), section(summary),
              actions([button("Notification settings", Action.HOME_SETTINGS, "settings"),
                       button("Refresh", Action.HOME_PAGE, HomePage(page=data.page).encode_value())])]
    notes = []
    if data.admin_queue:
        notes.append("As an admin you also see unassigned cases and cases whose assignee has no Slack "
                     "account.")
    if data.updated:
        notes.append(f"From Caseroom's copy of Debitura, updated {esc(data.updated)}.")
    if notes:
        blocks.append(context(*notes))
    return blocks


def build_home(data: HomeData) -> View:
    """The Home view: one page of the person's queue (and, on the first page, the team view)."""
    top = _top(data)
    team = _team_blocks(data)
    footer_blocks = 3  # divider, "Page n of m", Previous/Next
    budget = MAX_HOME_BLOCKS - len(top) - footer_blocks
    entries = _entries(data)
    pages = paginate(entries, budget=budget, first_budget=budget - len(team), rows=max(1, data.rows))
    page = min(max(0, data.page), len(pages) - 1)
    blocks: list[dict[str, Any]] = list(top)
    if page == 0:
        blocks.extend(team)
    by_key = {sec.key: sec for sec in data.sections}
    last = ""
    for key, index in pages[page]:
        if key != last:
            if key == "muted":
                title, count = "Muted", len(data.muted)
            else:
                title, count = by_key[key].title, len(by_key[key].items)
            more = " (continued)" if index > 0 and key == pages[page][0][0] else ""
            blocks.append(section(f"*{esc(title)}* ({count}){more}"))
            last = key
        if key == "muted":
            blocks.append(_muted_row(data.muted[index], page))
        else:
            blocks.extend(_row(by_key[key].items[index], key, data.now, page))
    if not entries:
        blocks.append(context("No case of yours is waiting for activation, a reply, info or an ending "
                              "exclusive period, and nothing was paid or closed lately."))
    if len(pages) > 1:
        nav = []
        if page > 0:
            nav.append(button("Previous", Action.HOME_PAGE_PREVIOUS, HomePage(page=page - 1).encode_value()))
        if page < len(pages) - 1:
            nav.append(button("Next", Action.HOME_PAGE_NEXT, HomePage(page=page + 1).encode_value()))
        blocks += [divider(), context(f"Page {page + 1} of {len(pages)}"), actions(nav)]
    return home_view(blocks, page=page)


def home_view(blocks: list[dict[str, Any]], *, page: int = 0) -> View:
    return {"type": "home", "callback_id": "case_home", "blocks": blocks,
            "private_metadata": HomePage(page=page).encode_metadata()}


def build_home_message(title: str, lines: Sequence[str], *, warning: bool = True) -> View:
    """A Home that only says something (no account, refused, degraded): a header and a few lines."""
    icon = ":warning: " if warning else ""
    blocks: list[dict[str, Any]] = [header(title)]
    blocks.extend(section(f"{icon if i == 0 else ''}{line}") for i, line in enumerate(lines))
    return home_view(blocks)


def build_no_account_home(email: str | None) -> View:
    if not email:
        return build_home_message("My cases", [
            "Caseroom cannot see the email address of your Slack account, so it cannot tell which "
            "Debitura cases are yours.",
            "To fix it: ask your Slack admin to reinstall Caseroom with the `users:read.email` scope, "
            "then open this tab again.",
        ])
    return build_home_message("My cases", [
        f"Your Slack email ({esc(email)}) does not match any member of your Debitura team, and no "
        "case is assigned to it, so Caseroom has no cases to show you.",
        "To fix it: use the same email address in Slack and in Debitura, or ask a Debitura admin to add "
        "you to the team and assign cases to you. Then open this tab again.",
    ])


DEGRADED = "case_home_degraded"
"""callback_id of the Home shown while Redis cannot be reached."""


def build_degraded_home() -> View:
    view = build_home_message("Caseroom is degraded", [
        "Caseroom cannot reach its database right now, so your queue cannot be shown.",
        "Debitura and your cases are not affected. Open this tab again in a few minutes; if it stays like "
        "this, tell whoever runs Caseroom (`caseroom check` shows what is wrong).",
    ])
    view["callback_id"] = DEGRADED
    return view


# --- notification settings ---------------------------------------------------------------------------

DM_LABELS: Mapping[str, str] = {
    "assigned": "A case is assigned to me",
    "creditor_chat": "A creditor writes on my case",
    "needs_info": "Validation asks for info",
    "payment": "Someone else records a payment",
    "closed": "My case is closed",
}
REMINDER_LABELS: Mapping[str, str] = {
    "exclusive": "Exclusive period ending (14, 7 and 1 days)",
    "reply": "A creditor chat waits for my reply",
    "activation": "A case waits for activation",
}
OPTION_LABELS: Mapping[str, str] = {
    "channel_only": "Creditor chats only in the case channel when I am in it",
    "digest": "A morning digest of my queue",
    "weekends": "Digests on Saturday and Sunday too",
}


@dataclass(frozen=True, slots=True)
class PrefsForm:
    dms: frozenset[str]
    reminders: frozenset[str]
    options: frozenset[str]
    quiet_start: str | None
    quiet_end: str | None
    digest_time: str | None


def _timepicker(initial: str | None) -> dict[str, Any]:
    el: dict[str, Any] = {"type": "timepicker", "action_id": str(Element.VALUE)}
    if initial:
        el["initial_time"] = initial
    return el


def build_settings_view(form: PrefsForm, *, page: int = 0) -> View:
    def boxes(labels: Mapping[str, str], initial: frozenset[str]) -> dict[str, Any]:
        return checkboxes_element([option(k, v) for k, v in labels.items()], initial=initial)

    blocks = [
        input_block(Block.PREF_DMS, "Direct messages", boxes(DM_LABELS, form.dms), optional=True),
        input_block(Block.PREF_REMINDERS, "Reminders", boxes(REMINDER_LABELS, form.reminders), optional=True),
        input_block(Block.PREF_OPTIONS, "Options", boxes(OPTION_LABELS, form.options), optional=True),
        input_block(Block.PREF_QUIET_START, "Quiet hours start", _timepicker(form.quiet_start), optional=True,
                    hint="In your Slack time zone. Leave both empty for no quiet hours."),
        input_block(Block.PREF_QUIET_END, "Quiet hours end", _timepicker(form.quiet_end), optional=True),
        input_block(Block.PREF_DIGEST_TIME, "Digest time", _timepicker(form.digest_time), optional=True),
        context("Muted cases send you nothing; unmute them from the Muted list on your Home."),
    ]
    return {"type": "modal", "callback_id": str(Callback.HOME_SETTINGS),
            "title": plain("Notifications", MAX_TITLE), "submit": plain("Save", MAX_TITLE),
            "close": plain("Cancel", MAX_TITLE), "blocks": blocks,
            "private_metadata": HomePage(page=page).encode_metadata()}


def _selected(values: Mapping[str, Any], block: Block) -> frozenset[str]:
    element = (values.get(str(block)) or {}).get(str(Element.VALUE)) or {}
    chosen = element.get("selected_options") or []
    return frozenset(str(o.get("value")) for o in chosen if isinstance(o, dict))


def _time(values: Mapping[str, Any], block: Block) -> str | None:
    element = (values.get(str(block)) or {}).get(str(Element.VALUE)) or {}
    value = element.get("selected_time")
    return str(value) if value else None


def parse_settings_form(values: Mapping[str, Any]) -> PrefsForm | dict[str, str]:
    """The submitted settings, or {block_id: error} for Slack to show."""
    form = PrefsForm(
        dms=_selected(values, Block.PREF_DMS) & frozenset(DM_LABELS),
        reminders=_selected(values, Block.PREF_REMINDERS) & frozenset(REMINDER_LABELS),
        options=_selected(values, Block.PREF_OPTIONS) & frozenset(OPTION_LABELS),
        quiet_start=_time(values, Block.PREF_QUIET_START),
        quiet_end=_time(values, Block.PREF_QUIET_END),
        digest_time=_time(values, Block.PREF_DIGEST_TIME),
    )
    if (form.quiet_start is None) != (form.quiet_end is None):
        missing = Block.PREF_QUIET_END if form.quiet_end is None else Block.PREF_QUIET_START
        return {str(missing): "Give both the start and the end, or leave both empty for no quiet hours."}
    if form.quiet_start is not None and form.quiet_start == form.quiet_end:
        return {str(Block.PREF_QUIET_END): "The end must differ from the start."}
    if "digest" in form.options and form.digest_time is None:
        return {str(Block.PREF_DIGEST_TIME): "Pick a time for your digest, or turn the digest off."}
    return form
