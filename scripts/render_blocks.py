#!/usr/bin/env python3
"""Render the README's pictures from the real Block Kit builders and sandbox data.

    .venv/bin/python scripts/render_blocks.py            # writes docs/images/case-card.png, case-channel.png,
                                                         # app-home.png
    .venv/bin/python scripts/render_blocks.py --html-only  # writes the .html next to them, no PNG

The data comes from an in-process `caseroom sandbox` (seeded, so the pictures are reproducible),
read through the real Debitura client; the blocks come from `blocks.card.build_case_card` and the
relay's builders in `blocks.relay`. `blocks_to_html` turns Block Kit into HTML styled like Slack's
message view, and headless Chromium (`apt install chromium`) takes the screenshot.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "images"
WIDTH = 860

# The emoji the builders use, as Unicode (Slack renders its own images).
EMOJI = {
    "speech_balloon": "\U0001F4AC", "outbox_tray": "\U0001F4E4", "spiral_note_pad": "\U0001F5D2",
    "arrows_counterclockwise": "\U0001F504", "compass": "\U0001F9ED", "moneybag": "\U0001F4B0",
    "wastebasket": "\U0001F5D1", "checkered_flag": "\U0001F3C1", "leftwards_arrow_with_hook": "\u21A9",
    "pencil2": "\u270F", "test_tube": "\U0001F9EA", "warning": "\u26A0", "white_check_mark": "\u2705",
    "hourglass_flowing_sand": "\u23F3", "lock": "\U0001F512", "page_facing_up": "\U0001F4C4",
    "calendar": "\U0001F4C5", "bust_in_silhouette": "\U0001F464", "link": "\U0001F517",
}
EMOJI.update({  # direct messages, reminders and digests (blocks/notify.py)
    "inbox_tray": "\U0001F4E5", "alarm_clock": "\u23F0", "mag": "\U0001F50D",
})

CSS = """
body { margin: 0; background: #fff; font-family: 'DejaVu Sans', 'Lato', sans-serif; color: #1d1c1d;
       font-size: 15px; line-height: 1.46; }
.frame { width: %(width)dpx; box-sizing: border-box; padding: 0; }
.bar { background: #3f0e40; color: #fff; padding: 10px 20px; font-weight: bold; font-size: 16px; }
.bar small { font-weight: normal; opacity: .8; margin-left: 8px; }
.msg { display: flex; padding: 10px 20px 8px 20px; }
.msg + .msg { border-top: 1px solid #f3f3f3; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #1f3a5f; color: #fff;
          font-weight: bold; display: flex; align-items: center; justify-content: center; margin-right: 10px;
          flex: none; font-size: 16px; }
.body { flex: 1; min-width: 0; }
.who { font-weight: bold; } .app { font-size: 10px; background: #e8e8e8; color: #555; border-radius: 2px;
       padding: 1px 3px; margin-left: 4px; vertical-align: 2px; font-weight: bold; }
.time { color: #616061; font-size: 12px; margin-left: 6px; }
.only { color: #616061; font-size: 12px; margin-bottom: 2px; }
.block { margin: 4px 0; }
.header { font-size: 18px; font-weight: 900; margin: 6px 0 4px 0; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 6px 16px; }
.context { color: #616061; font-size: 12.5px; display: flex; gap: 8px; flex-wrap: wrap; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0 4px 0; }
.btn { border: 1px solid #d0d0d0; border-radius: 4px; padding: 3px 11px; font-size: 13px; font-weight: bold;
       background: #fff; color: #1d1c1d; }
.btn.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.btn.danger { background: #fff; border-color: #e01e5a; color: #e01e5a; }
.divider { border-top: 1px solid #e8e8e8; margin: 8px 0; }
blockquote { margin: 2px 0; padding-left: 10px; border-left: 4px solid #dddddd; }
code { background: #f6f6f6; border: 1px solid #e0e0e0; border-radius: 3px; padding: 0 3px; font-size: 12px;
       color: #c0134a; }
a, .link { color: #1264a3; text-decoration: none; }
.mention { background: #e8f5fa; color: #1264a3; border-radius: 3px; padding: 0 2px; }
"""


# --- mrkdwn and Block Kit to HTML -------------------------------------------------------------

_SPECIAL = re.compile(r"<([^<>]+)>")
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")


def _special(match: re.Match[str]) -> str:
    """Slack's <...> forms: dates, links, channel and user mentions."""
    inner = match.group(1)
    if inner.startswith("!date^"):
        fallback = inner.split("|", 1)[1] if "|" in inner else inner
        return fallback
    if inner.startswith("#"):
        name = inner.split("|", 1)[1] if "|" in inner else "case-channel"
        return f'<span class="mention">#{name}</span>'
    if inner.startswith("@"):
        name = inner.split("|", 1)[1] if "|" in inner else inner[1:]
        return f'<span class="mention">@{name}</span>'
    if inner.startswith("!"):
        return f'<span class="mention">@{inner[1:].split("|")[0]}</span>'
    url, _, label = inner.partition("|")
    return f'<span class="link">{label or url}</span>'


def mrkdwn_to_html(text: str) -> str:
    """Slack mrkdwn (as the builders emit it: &, <, > already escaped) to HTML.

    Raw `<` only starts Slack's special forms; anything else in the text is kept as the entities Slack
    would show. Quotes (`>` at the start of a line, escaped as `&gt;` by nobody: the builders emit a
    literal `>`) become blockquotes.
    """
    lines_out: list[str] = []
    quote: list[str] = []

    def inline(line: str) -> str:
        out = _SPECIAL.sub(_special, line)
        out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
        out = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", out)
        out = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", out)
        out = re.sub(r"(?<![\w~])~([^~\n]+)~(?![\w~])", r"<s>\1</s>", out)
        return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), out)

    def flush_quote() -> None:
        if quote:
            lines_out.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
            quote.clear()

    for line in text.split("\n"):
        if line.startswith(">"):
            quote.append(inline(line[1:]))
            continue
        flush_quote()
        lines_out.append(inline(line) + "<br>")
    flush_quote()
    joined = "".join(lines_out)
    return joined.removesuffix("<br>")


def _text(obj: dict[str, Any] | None) -> str:
    if not obj:
        return ""
    if obj.get("type") == "plain_text":
        return html.escape(str(obj.get("text", "")), quote=False)
    return mrkdwn_to_html(str(obj.get("text", "")))


def _element(el: dict[str, Any]) -> str:
    if el.get("type") == "button":
        style = el.get("style", "")
        return f'<span class="btn {html.escape(style)}">{_text(el.get("text"))}</span>'
    if el.get("type") in ("mrkdwn", "plain_text"):
        return f"<span>{_text(el)}</span>"
    if el.get("type") == "image":
        return ""
    return f'<span class="btn">{_text(el.get("placeholder") or el.get("text"))}</span>'


def blocks_to_html(blocks: Sequence[dict[str, Any]]) -> str:
    """Block Kit blocks (header, section, context, actions, divider) as HTML."""
    parts: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            parts.append(f'<div class="block header">{_text(block.get("text"))}</div>')
        elif kind == "section":
            inner = ""
            if block.get("text"):
                inner += f"<div>{_text(block['text'])}</div>"
            if block.get("fields"):
                inner += '<div class="fields">' + "".join(
                    f"<div>{_text(f)}</div>" for f in block["fields"]
                ) + "</div>"
            if block.get("accessory"):
                inner += f'<div class="actions">{_element(block["accessory"])}</div>'
            parts.append(f'<div class="block section">{inner}</div>')
        elif kind == "context":
            elements = "".join(_element(e) for e in block.get("elements", []))
            parts.append(f'<div class="block context">{elements}</div>')
        elif kind == "actions":
            elements = "".join(_element(e) for e in block.get("elements", []))
            parts.append(f'<div class="block actions">{elements}</div>')
        elif kind == "divider":
            parts.append('<div class="divider"></div>')
        else:
            raise ValueError(f"no HTML rendering for block type {kind!r}")
    return "\n".join(parts)


def message_html(blocks: Sequence[dict[str, Any]], *, time: str, ephemeral: bool = False) -> str:
    only = '<div class="only">Only visible to you</div>' if ephemeral else ""
    return (
        '<div class="msg"><div class="avatar">C</div><div class="body">'
        f'{only}<div><span class="who">Caseroom</span><span class="app">APP</span>'
        f'<span class="time">{html.escape(time)}</span></div>{blocks_to_html(blocks)}</div></div>'
    )


def page(title: str, subtitle: str, messages: Sequence[str]) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        + CSS % {"width": WIDTH}
        + f"</style></head><body><div class='frame'><div class='bar'>{html.escape(title)}"
        f"<small>{html.escape(subtitle)}</small></div>" + "".join(messages) + "</div></body></html>"
    )


# --- data from the sandbox, blocks from the builders --------------------------------------------


async def build_pages() -> dict[str, str]:
    import httpx

    from blocks.card import CardOptions, build_case_card
    from blocks.relay import TimelineEntry, build_chat_message, build_payment_message, build_timeline_messages
    from bot.debitura.client import DebituraClient
    from bot.debitura.models import ChatRole, Lifecycle
    from bot.sandbox.app import Sandbox, build_app

    sandbox = Sandbox(seed=7, n_cases=60, api_key="sandbox-key")
    transport = httpx.ASGITransport(app=build_app(sandbox))
    client = DebituraClient("http://sandbox.local", "sandbox-key", transport=transport)
    try:
        page_ = await client.list_cases(page=1, page_size=100, statuses=[Lifecycle.Active])
        chosen = None
        for summary in page_.cases:
            case = await client.get_case(summary.id)
            chats = await client.list_chats(case.id)
            payments = await client.list_payments(case.id)
            if payments and sum(1 for c in chats if c.role == ChatRole(1)) >= 2:
                chosen = (case, chats, payments)
                break
        if chosen is None:
            raise SystemExit("no Active sandbox case with payments and creditor chats (seed 7)")
        case, chats, payments = chosen
        timeline = await client.get_timeline(case.id)
        validation = await client.get_validation(case.id)
    finally:
        await client.aclose()

    def ts(moment: datetime | None) -> float:
        return moment.timestamp() if moment is not None else datetime.now(UTC).timestamp()

    def hhmm(unix: float) -> str:
        return datetime.fromtimestamp(unix, UTC).strftime("%H:%M")

    reference = case.reference or case.id
    # "Today" is the case's last update, so the card reads as it did on that day (the data is seeded).
    today = (case.date_updated or datetime.now(UTC)).date()
    card = build_case_card(case, CardOptions(today=today), validation)
    card_page = page("#general", "/case " + reference,
                     [message_html(card["blocks"], time="10:42", ephemeral=True)])

    # The channel as the relay fills it: timeline items, creditor chats and a payment, in time order.
    events: list[tuple[float, list[dict[str, Any]]]] = []
    items = [i for i in timeline.items if i.type not in ("Communication", "Payment")]
    for text_and_blocks in build_timeline_messages(reference=reference, entries=[
        TimelineEntry(date=ts(i.date), title=i.title or "", description=i.description or "",
                      actor=(i.actor.name or i.actor.type or "") if i.actor else "", type=i.type or "")
        for i in items
    ]):
        first = min((ts(i.date) for i in items), default=0.0)
        events.append((first, text_and_blocks[1]))
    for chat in [c for c in chats if c.role == ChatRole(1)][-2:]:
        author = chat.user.full_name if chat.user is not None else ""
        _, blocks = build_chat_message(
            case_id=case.id, reference=reference, author=author or "Creditor",
            role_label=chat.role_label or "Creditor", from_creditor=True, created=ts(chat.date_created),
            message=chat.message or "",
        )
        events.append((ts(chat.date_created), blocks))
    pay = payments[-1]
    _, blocks = build_payment_message(
        reference=reference, amount=str(pay.gross_amount or ""), currency=pay.currency or case.currency or "",
        recipient=pay.recipient or "", method=pay.method or "", date=ts(pay.date), deleted=False,
    )
    events.append((ts(pay.date), blocks))
    messages = [message_html(blocks, time=hhmm(at)) for at, blocks in sorted(events, key=lambda e: e[0])]
    channel = f"#case-{reference.lower()}"
    channel_page = page(channel, "private case channel", messages)
    pages = {"case-card": card_page, "case-channel": channel_page, "app-home": await build_home_page()}
    pages["direct-messages"] = dm_page(case, chats, reference)
    return pages


def dm_page(case: Any, chats: Sequence[Any], reference: str) -> str:
    """The app's Messages tab as an assignee sees it: an assignment (with Activate), a creditor chat,
    a reminder and the morning digest, from blocks/notify.py."""
    from blocks.notify import (
        CaseLine,
        DigestItem,
        build_assigned_dm,
        build_creditor_chat_dm,
        build_digest,
        build_reminder,
    )
    from bot.debitura.models import ChatRole

    line = CaseLine(case_id=case.id, reference=reference, debtor=case.debtor.name if case.debtor else "",
                    outstanding=str(case.remainder or ""), currency=case.currency or "",
                    lifecycle="PendingVerification", lifecycle_display="Pending Verification")
    active = CaseLine(case_id=case.id, reference=reference, debtor=line.debtor, outstanding=line.outstanding,
                      currency=line.currency, lifecycle="Active", lifecycle_display="Active")
    chat = [c for c in chats if c.role == ChatRole(1)][-1]
    at = chat.date_created.timestamp() if chat.date_created else 0.0
    author = (chat.user.full_name if chat.user is not None else "") or "Creditor"
    messages = [
        (build_digest(counts=[("Waiting for activation", 1), ("Creditor waiting for a reply", 3),
                              ("Needs info", 0), ("Exclusive period ending", 2), ("Recently paid", 1)],
                      top=[DigestItem(label="Waiting for activation", case=line),
                           DigestItem(label="Creditor waiting for a reply", case=active)],
                      day="2026-12-03")[1], "08:00"),
        (build_assigned_dm(line)[1], "09:12"),
        (build_creditor_chat_dm(active, author=author, message=chat.message or "", at=at)[1], "11:47"),
        (build_reminder("reply", active, threshold=24, since=at, now=at + 26 * 3600)[1], "13:47"),
    ]
    return page("Caseroom", "Messages", [message_html(blocks, time=time) for blocks, time in messages])


async def build_home_page() -> str:
    """App Home (issue 13) of the sandbox's busiest assignee, as an admin sees it (queue + team view):
    the queue built by `bot.attention.queue` from the relay's snapshots of the seeded cases."""
    import time

    import httpx

    from blocks.home import HomeData, HomeItem, HomeSection, TeamRow, build_home
    from bot.attention.queue import ADMINS, SECTIONS, build_queue
    from bot.debitura.client import DebituraClient
    from bot.sandbox.app import Sandbox, build_app
    from bot.store.snapshots import CaseMarks, TrackedCase, next_marks, snapshot_case, snapshot_chat

    sandbox = Sandbox(seed=7, n_cases=60, api_key="sandbox-key")
    client = DebituraClient("http://sandbox.local", "sandbox-key",
                            transport=httpx.ASGITransport(app=build_app(sandbox)))
    now = time.time()
    tracked: list[TrackedCase] = []
    try:
        async for case in client.iter_cases(page_size=100):
            snap = snapshot_case(case)
            chats = [snapshot_chat(c) for c in await client.list_chats(case.id)] if not snap.closed else None
            marks = next_marks(CaseMarks(), before=None, after=snap, chats=chats, payments=None,
                               first_seen=now - 3 * 86400, now=now)
            tracked.append(TrackedCase(case=snap, marks=marks, first_seen=now - 3 * 86400))
    finally:
        await client.aclose()
    queues = build_queue(tracked, now=now)  # by assignee email, unassigned: the admins'
    people = sorted((e for e in queues if e != ADMINS), key=lambda e: (-queues[e].total, e))
    me = people[0]
    mine = build_queue([t for t in tracked if t.case.assignee_email.lower() in (me, "")], now=now,
                       users={me: "UME"})
    sections = [HomeSection(key=s.value, title=s.heading, alarm=s.alarm, items=[
        HomeItem(case_id=i.case_id, reference=i.reference, debtor=i.debtor, amount=i.amount,
                 currency=i.currency, since=i.since, due=i.due, pending=i.pending)
        for q in mine.values() for i in q.sections[s]]) for s in SECTIONS]
    names = {email: email.split("@")[0].replace(".", " ").title() for email in people}
    def counts(owner: str) -> tuple[int, ...]:
        return tuple(queues[owner].counts()[s] for s in SECTIONS)

    team = [*(TeamRow(who=f"@{names[e]}", counts=counts(e)) for e in people[:3]),
            TeamRow(who="*Unassigned*", counts=counts(ADMINS))]
    view = build_home(HomeData(now=now, sections=sections, team=team,
                               team_titles=("activation", "replies", "needs info", "exclusive ending", "paid",
                                            "closed"), admin_queue=True, rows=12,
                               updated="a minute ago"))
    body = f'<div class="msg"><div class="body">{blocks_to_html(view["blocks"])}</div></div>'
    return page("Caseroom", "Home", [body])


# --- screenshots ----------------------------------------------------------------------------------


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("headless Chromium is needed for the PNGs: sudo apt install chromium "
                     "fonts-noto-color-emoji (or use --html-only)")


def _chrome(args: list[str]) -> subprocess.CompletedProcess[str]:
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--force-device-scale-factor=1", "--default-background-color=ffffffff"]
    # The arguments are this script's own (a file URL it wrote, sizes): nothing untrusted.
    return subprocess.run(base + args, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603


def screenshot(html_path: Path, png_path: Path) -> None:
    # Measure the page first (the script writes the height into the DOM), then shoot at that size.
    probe = html_path.with_suffix(".probe.html")
    probe.write_text(html_path.read_text(encoding="utf-8").replace(
        "</body>", "<script>document.body.setAttribute('data-h', "
        "Math.ceil(document.querySelector('.frame').getBoundingClientRect().height) + 8)</script></body>"),
        encoding="utf-8")
    dom = _chrome([f"--window-size={WIDTH},2000", "--dump-dom", probe.as_uri()]).stdout
    probe.unlink()
    found = re.search(r'data-h="(\d+)"', dom)
    height = int(found.group(1)) if found else 1200
    result = _chrome([f"--window-size={WIDTH},{height}", f"--screenshot={png_path}", html_path.as_uri()])
    if not png_path.exists():
        raise SystemExit(f"chromium did not write {png_path}: {result.stderr[-500:]}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--html-only", action="store_true", help="write the HTML, skip the screenshots")
    parser.add_argument("--out", type=Path, default=OUT, help="output directory (default docs/images)")
    args = parser.parse_args(argv)
    pages = asyncio.run(build_pages())
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in pages.items():
            html_path = (args.out if args.html_only else Path(tmp)) / f"{name}.html"
            html_path.write_text(content, encoding="utf-8")
            if not args.html_only:
                screenshot(html_path, args.out / f"{name}.png")
                print(f"wrote {args.out / (name + '.png')}")
            else:
                print(f"wrote {html_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
