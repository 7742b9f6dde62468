"""Helpers for the `/case` e2e tests: send a command, wait for its reply, click the reply's buttons."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fakes.slack.driver import Ack
from tests.fakes.slack.journal import ResponsePost
from tests.fakes.slack.workspace import Message
from tests.fixtures.e2e import Caseroom

ERROR_ID = re.compile(r"Error id `([0-9a-f]{10})`")


async def run(caseroom: Caseroom, text: str, *, user: str | None = None, channel: str | None = None) -> Ack:
    ack = await caseroom.driver.command("/case", text, user=user or caseroom.user.id,
                                        channel=channel or caseroom.channel.id)
    assert ack.acked, f"/case {text}: no ack within 3 s"
    assert ack.ok, (ack.status, ack.body)
    return ack


async def replies(caseroom: Caseroom, ack: Ack, count: int = 1, timeout: float = 20) -> list[ResponsePost]:
    """The first `count` accepted posts on the interaction's response_url."""
    url = ack.response_url
    assert url is not None
    journal = caseroom.fake.journal

    def enough() -> list[ResponsePost] | None:
        posts = journal.responses(url)
        return posts if len(posts) >= count else None

    posts = await journal.wait_for(enough, timeout=timeout, what=f"{count} replies on {url}")
    rejected = [r for r in journal.responses(url, accepted_only=False) if r.error is not None]
    assert not rejected, [(r.error, r.body) for r in rejected]
    return posts


async def reply(caseroom: Caseroom, ack: Ack, timeout: float = 20) -> ResponsePost:
    return (await replies(caseroom, ack, 1, timeout))[-1]


def mrkdwn(body: dict[str, Any]) -> str:
    """Every text in a message body (text + blocks), for assertions."""
    out = [str(body.get("text") or "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(body.get("blocks"))
    return "\n".join(out)


def action_ids(body: dict[str, Any]) -> list[str]:
    return re.findall(r'"action_id": "([^"]+)"', json.dumps(body.get("blocks") or []))


def render(caseroom: Caseroom, post: ResponsePost) -> Message:
    """Show an ephemeral reply as a message in the channel so its buttons can be clicked.

    The fake keeps no message for ephemeral response_url posts; rendering the same blocks lets the
    driver build the exact block_actions payload Slack would send for a click on them.
    """
    ws = caseroom.fake.workspace
    channel = ws.channels[caseroom.channel.id]
    return ws.add_bot_message(channel, text=post.text, blocks=post.body.get("blocks"), attachments=None,
                              thread_ts=None, metadata=None)


async def click(caseroom: Caseroom, message: Message, action_id: str, *, user: str | None = None,
                block_id: str | None = None) -> Ack:
    ack = await caseroom.driver.click(action_id, user=user or caseroom.user.id, channel=message.channel,
                                      message_ts=message.ts, block_id=block_id)
    assert ack.acked and ack.ok, (ack.status, ack.body)
    return ack


def error_id(text: str) -> str:
    found = ERROR_ID.search(text)
    assert found, f"no error id in {text!r}"
    return found.group(1)
