"""`blocks.chats`: pages of a case's chats within Slack's message limits whatever the data, newest
last, every chat once and whole; roles named; unread creditor chats marked."""

from __future__ import annotations

from typing import Any

import pytest

from blocks.chats import MAX_CHAT_BLOCKS, build_chats, chat_pages, role_name
from blocks.ids import Action
from blocks.metadata import ChatPage
from bot.debitura.models import Chat
from tests.blocks.factories import make_case
from tests.fakes.slack.validation import assert_valid_message


def chat(n: int, message: str, *, role: int | None = 1, seen: bool = False, label: str | None = None) -> Chat:
    return Chat.model_validate({
        "id": f"00000000-0000-0000-0000-{n:012d}", "dateCreated": f"2026-11-{1 + n // 1440:02d}T"
        f"{(n // 60) % 24:02d}:{n % 60:02d}:00Z", "role": role, "roleLabel": label, "message": message,
        "isSeen": seen,
        "user": {"id": n, "firstName": "Ann", "lastName": f"Smith {n}", "email": "a@b.example"}})


def texts(message: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in message["blocks"] if b["type"] == "section")


@pytest.mark.parametrize("body", ["short & <sweet>", "&" * 10_000, ("word " * 2000)[:10_000], "x\n" * 5000])
def test_every_page_is_valid_and_holds_every_chat_once(body: str) -> None:
    case = make_case(isTestCase=True)
    count = 60 if len(body) < 100 else 20  # 20 long ones already fill several pages
    chats = [chat(n, f"#{n:03d} {body}", role=n % 3, seen=n % 2 == 0) for n in range(count)]
    pages = chat_pages(chats)
    assert [c.id for page in reversed(pages) for c in page] == [c.id for c in chats]
    for number in range(1, len(pages) + 1):
        message = build_chats(case, chats, page=number, channel_id="C0CHAN")
        assert_valid_message(message)
        assert len(message["blocks"]) <= 50
    # A long message is shown whole, over several sections.
    one = build_chats(case, [chat(1, body)])
    shown = texts(one).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    assert "".join(body.split()) in "".join(shown.split())


def test_page_one_is_the_newest_and_newest_is_last() -> None:
    chats = [chat(n, f"m{n:03d}") for n in range(120)]
    first = texts(build_chats(make_case(), chats, page=1))
    numbers = [int(p[1:4]) for p in first.split() if p.startswith("m") and p[1:4].isdigit()]
    assert numbers == sorted(numbers) and numbers[-1] == 119
    assert len(numbers) == MAX_CHAT_BLOCKS


def test_paging_buttons_and_reply() -> None:
    chats = [chat(n, f"m{n}") for n in range(100)]
    case = make_case()
    middle = build_chats(case, chats, page=2, channel_id="C0CHAN")
    pagers = [b["elements"][0] for b in middle["blocks"] if b["type"] == "actions"
              and b["elements"][0]["action_id"] == Action.CHATS_PAGE]
    assert [p["text"]["text"] for p in pagers] == ["Older", "Newer"]
    assert [ChatPage.decode(p["value"]).page for p in pagers] == [3, 1]
    reply = next(b for b in middle["blocks"] if b["type"] == "actions")["elements"][0]
    assert reply["action_id"] == Action.OPEN_CHAT and reply["text"]["text"] == "Reply"
    beyond = build_chats(case, chats, page=99)  # past the last page: the last one
    assert "page 3 of 3" in beyond["blocks"][1]["elements"][0]["text"]


def test_roles_authors_and_unread() -> None:
    chats = [chat(1, "from them", role=1, seen=False), chat(2, "seen", role=1, seen=True),
             chat(3, "ours", role=0, seen=False), chat(4, "managed", role=2, label=""),
             chat(5, "odd", role=7)]
    body = texts(build_chats(make_case(), chats))
    lines = [line for line in body.splitlines() if "Ann Smith" in line]
    first = ":large_blue_circle: *Unread* · *Creditor* · Ann Smith 1 · 2026-11-01 00:01 UTC"
    assert lines[0].startswith(first)
    assert "Unread" not in lines[1] and "Unread" not in lines[2]  # seen, and our own
    assert "*Partner*" in lines[2] and "*Managed by partner*" in lines[3] and "*Role 7*" in lines[4]
    assert role_name(chat(6, "x", role=None)) == "Unknown role"


def test_test_case_is_labelled_and_empty_history_says_so() -> None:
    message = build_chats(make_case(isTestCase=True), [])
    assert "Test case" in message["blocks"][1]["elements"][0]["text"]
    assert "No chat messages on this case yet." in texts(message)
