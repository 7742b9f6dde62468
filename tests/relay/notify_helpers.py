"""Shared pieces of the direct message, reminder and digest tests (issue 13, part B)."""

from __future__ import annotations

import time
from typing import Any

from bot.relay.service import Relay
from bot.store.cases import Want
from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.workspace import Message, User
from tests.relay.harness import build_test_runtime, test_options


class Clock:
    """Real time plus an offset the test moves forward (the relay's injectable clock)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


async def start_clocked_relay(settings: Any, clock: Clock, **options: Any) -> Relay:
    runtime = await build_test_runtime(settings)
    relay = Relay(runtime, test_options(**options), clock=clock)
    await relay.start()
    return relay


def slack_user_for(fake: FakeSlack, email: str, name: str = "alice", **kw: Any) -> User:
    return fake.workspace.add_user(name, email=email, **kw)


def dms(fake: FakeSlack, user_id: str) -> list[Message]:
    """The bot's messages in its DM with `user_id` (the app's Messages tab), oldest first."""
    ws = fake.workspace
    out: list[Message] = []
    for channel in ws.channels.values():
        if channel.is_im and channel.members == {user_id, ws.BOT_USER_ID}:
            out += [m for m in channel.messages if m.bot_id]
    return out


def dm_ids(fake: FakeSlack, user_id: str, prefix: str = "") -> list[str]:
    ids = []
    for m in dms(fake, user_id):
        item = ((m.metadata or {}).get("event_payload") or {}).get("item_id")
        if item and str(item).startswith(prefix):
            ids.append(str(item))
    return ids


async def as_webhook(relay: Relay, case_id: str, bits: Want = Want.CASE | Want.POLL) -> None:
    """What the webhook intake does for `case.assigned` (bot.relay.webhooks): a fetch asked for now."""
    await relay.runtime.stores.cases.request_fetch(case_id, int(bits), relay.clock(), "webhook")
    relay.nudge()


def action_ids(message: Message) -> list[str]:
    return [e.get("action_id", "") for b in message.blocks or [] if b.get("type") == "actions"
            for e in b.get("elements", [])]
