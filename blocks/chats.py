"""`/case chats`: a case's chat history with the creditor, paged within Slack's message limits.

Debitura returns every chat of a case at once, oldest first (no paging, up to 10,000 characters a
message). `chat_pages()` packs them into pages from the newest back: page 1 holds the newest chats,
page 2 the ones before, and so on; each page lists its chats oldest first, so the newest is last, as
in any conversation. A page stays within Slack's limits whatever the data: at most 50 blocks (the
chats get `MAX_CHAT_BLOCKS` of them), at most 3,000 characters a section (a long message continues in
further sections, never cut), `MAX_PAGE_TEXT` characters of text a page, and a short fallback `text`.

Each chat shows its role (the integer role of the API, named: Partner, Creditor, Managed by partner),
its author and time; a creditor chat not yet seen (`isSeen` false) is marked *Unread*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from blocks.card import TEST_CASE_LINE, case_ref, case_title
from blocks.ids import Action
from blocks.metadata import ChatPage
from blocks.text import (
    MAX_MESSAGE_BLOCKS,
    MAX_SECTION_TEXT,
    Block,
    actions,
    button,
    context,
    esc,
    esc_trunc,
    format_datetime,
    header,
    one_line,
    plural,
    section,
    truncate,
)
from bot.debitura.models import Case, Chat, ChatRole

MAX_CHAT_BLOCKS = MAX_MESSAGE_BLOCKS - 7
"""Blocks a page gives its chats: the rest hold the header, up to three context lines, Reply and paging."""
MAX_PAGE_TEXT = 24_000
"""Characters of chat sections on one page (one chat of any length still gets a page to itself)."""
SECTION_ROOM = MAX_SECTION_TEXT - 100
"""Characters of message in one section (the first one also holds the chat's heading)."""
MAX_SECTIONS_PER_CHAT = 30
"""A 10,000-character message needs at most 18 sections even if every character is escaped."""
UNREAD = ":large_blue_circle: *Unread*"


def role_name(chat: Chat) -> str:
    """The chat's role in words: the API's label, else the name of the integer role."""
    if chat.role_label and chat.role_label.strip():
        return one_line(chat.role_label)
    role = chat.role
    if isinstance(role, ChatRole):
        return role.label
    return f"Role {role}" if role is not None else "Unknown role"


def is_unread(chat: Chat) -> bool:
    """A creditor chat nobody on our side has seen yet (`isSeen` false)."""
    return chat.role == ChatRole.CREDITOR and chat.is_seen is False


def _chunks(text: str, room: int) -> list[str]:
    """Escape `text` for mrkdwn in pieces of at most `room` escaped characters, never splitting an
    escape entity, preferring to break at a line end or a space."""
    out: list[str] = []
    rest = text
    while rest:
        # Escaping grows a character to at most 5 (`&amp;`): find the longest prefix that fits.
        take = min(len(rest), room)
        while len(esc(rest[:take])) > room:
            over = len(esc(rest[:take])) - room
            take -= max(1, over // 5)
        if take < len(rest):
            brk = max(rest.rfind("\n", 0, take), rest.rfind(" ", 0, take))
            if brk > take // 2:
                take = brk + 1
        out.append(esc(rest[:take]))
        rest = rest[take:]
    return out


def chat_blocks(chat: Chat) -> list[Block]:
    """One chat as sections: a heading line (unread mark, role, author, time) and the whole message."""
    author = chat.user.full_name if chat.user is not None else ""
    parts = [f"*{esc_trunc(role_name(chat), 60)}*"]
    if author:
        parts.append(esc_trunc(one_line(author), 120))
    parts.append(format_datetime(chat.date_created))
    created, updated = chat.date_created, chat.date_updated
    if updated is not None and created is not None and updated > created:
        parts.append(f"_edited {format_datetime(chat.date_updated)}_")
    heading = " · ".join(parts)
    if is_unread(chat):
        heading = f"{UNREAD} · {heading}"
    message = (chat.message or "").strip()
    pieces = _chunks(message, SECTION_ROOM) if message else ["_(no text)_"]
    if len(pieces) > MAX_SECTIONS_PER_CHAT:  # only past the API's 10,000 characters
        pieces = pieces[:MAX_SECTIONS_PER_CHAT]
        pieces[-1] += "\n_… the rest of this message is too long for Slack: read it in Debitura._"
    blocks = [section(f"{heading}\n{pieces[0]}")]
    blocks.extend(section(piece) for piece in pieces[1:])
    return blocks


def _size(blocks: Sequence[Block]) -> int:
    return sum(len(b["text"]["text"]) for b in blocks)


@dataclass(frozen=True, slots=True)
class ChatsPage:
    """One page: its chats (oldest first) as blocks, which page of how many, what it holds."""

    number: int
    total_pages: int
    blocks: list[Block]
    chats: int
    unread: int


def chat_pages(chats: Sequence[Chat]) -> list[list[Chat]]:
    """Every page, page 1 first (the newest chats); within a page oldest first."""
    ordered = sorted(enumerate(chats), key=lambda pair: (
        pair[1].date_created.timestamp() if pair[1].date_created is not None else 0.0, pair[0]))
    pages: list[list[Chat]] = []
    current: list[Chat] = []
    used_blocks = used_text = 0
    for _, chat in reversed(ordered):
        rendered = chat_blocks(chat)
        fits = (used_blocks + len(rendered) <= MAX_CHAT_BLOCKS
                and used_text + _size(rendered) <= MAX_PAGE_TEXT)
        if current and not fits:
            pages.append(list(reversed(current)))
            current, used_blocks, used_text = [], 0, 0
        current.append(chat)
        used_blocks += len(rendered)
        used_text += _size(rendered)
    if current:
        pages.append(list(reversed(current)))
    return pages


def build_chats(case: Case, chats: Sequence[Chat], *, page: int = 1, channel_id: str | None = None,
                test_label: bool = True, shared_by: str | None = None) -> dict[str, object]:
    """The chats message for `page` (1 = the newest). A page past the last shows the last one.

    `shared_by`: the page as posted in the channel by that person (*Share in channel*): it says who
    shared it and has no paging or share buttons (a click would change the message for everyone)."""
    pages = chat_pages(chats)
    total = len(pages)
    number = min(max(page, 1), max(total, 1))
    shown = pages[number - 1] if pages else []
    title = case_title(case)
    unread_all = sum(1 for c in chats if is_unread(c))
    blocks: list[Block] = [header(f"Chats · {title}")]
    if test_label and case.is_test_case:
        blocks.append(context(TEST_CASE_LINE))
    summary = [plural(len(chats), "message")]
    if total > 1:
        summary.append(f"page {number} of {total} (page 1 is the newest)")
    if unread_all:
        summary.append(f"{unread_all} unread from the creditor")
    blocks.append(context(" · ".join(summary) + " · newest last"))
    if not shown:
        blocks.append(section("No chat messages on this case yet."))
    for chat in shown:
        blocks.extend(chat_blocks(chat))
    ref = case_ref(case, channel_id)
    this_page = ChatPage(id=case.id, ref=case.reference or "", ch=channel_id, page=number)
    if shared_by:
        blocks.append(context(f"Shared by <@{esc(shared_by)}>"))
    row = [button("Reply", Action.OPEN_CHAT, ref.encode_value(), style="primary"),
           button("Back to the case", Action.SHOW_CARD, ref.encode_value())]
    if not shared_by:
        row.append(button("Share in channel", Action.SHARE_CHATS, this_page.encode_value()))
    blocks.append(actions(row))
    # Older and Newer share one action id: each in its own block (ids are unique within a block).
    if number < total and not shared_by:
        older = ChatPage(id=case.id, ref=case.reference or "", ch=channel_id, page=number + 1)
        blocks.append(actions([button("Older", Action.CHATS_PAGE, older.encode_value())]))
    if number > 1 and not shared_by:
        newer = ChatPage(id=case.id, ref=case.reference or "", ch=channel_id, page=number - 1)
        blocks.append(actions([button("Newer", Action.CHATS_PAGE, newer.encode_value())]))
    if len(blocks) > MAX_MESSAGE_BLOCKS:  # cannot happen: MAX_CHAT_BLOCKS leaves the room
        raise ValueError(f"{len(blocks)} blocks; a message holds {MAX_MESSAGE_BLOCKS}")
    text = f"Chats of {esc(title)}" + (f", page {number} of {total}" if total > 1 else "")
    return {"text": truncate(text, 500), "blocks": blocks}
