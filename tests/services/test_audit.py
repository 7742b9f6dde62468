from __future__ import annotations

import json

import redis.asyncio as aioredis
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import audit
from bot.store.keys import Keys
from tests.fakes.slack.server import FakeSlack
from tests.services.helpers import make_runtime


def test_audit_line_mentions_the_user_and_escapes() -> None:
    assert audit.audit_line("U1", "payment", "recorded a payment of 250.00 EUR", "Q8OAXF3W") == (
        "<@U1> recorded a payment of 250.00 EUR on Q8OAXF3W.")
    assert audit.audit_line("U1", "note", None, None) == "<@U1> added a note."
    odd = audit.audit_line("U1", "odd_thing", "<!channel> & co", "R")
    assert odd == "<@U1> &lt;!channel&gt; &amp; co on R."


async def test_record_write_appends_to_the_stream_and_posts_in_the_case_channel(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    ws = fake_slack.workspace
    channel = ws.add_channel("case-q8oaxf3w", is_private=True, members=[ws.BOT_USER_ID])
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client)
    await redis.hset(keys.case_channel("case-1"),
                     mapping={"id": channel.id, "name": channel.name, "archived": "0"})

    entry_id = await audit.record_write(
        runtime, user_id="U1", action="payment", case_id="case-1", case_reference="Q8OAXF3W",
        summary={"amount": "250.00", "recipient": "Creditor"}, result={"payment_id": "p1"},
        line="recorded a payment of 250.00 EUR",
    )
    assert entry_id
    entries = await audit.recent_entries(runtime)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["user"] == "U1" and entry["action"] == "payment" and entry["case_id"] == "case-1"
    assert json.loads(entry["summary"]) == {"amount": "250.00", "recipient": "Creditor"}
    assert json.loads(entry["result"]) == {"payment_id": "p1"}
    posted = fake_slack.journal.messages(channel.id, bot_only=True)
    assert [m.text for m in posted] == ["<@U1> recorded a payment of 250.00 EUR on Q8OAXF3W."]


async def test_no_channel_no_line_but_still_audited(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client)
    await audit.record_write(runtime, user_id="U1", action="note", case_id="c2", case_reference=None,
                             summary="text", result=None)
    assert len(await audit.recent_entries(runtime)) == 1
    assert not fake_slack.journal.calls("chat.postMessage")


async def test_archived_channel_gets_no_line(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client)
    await redis.hset(keys.case_channel("c3"), mapping={"id": "C404", "name": "x", "archived": "1"})
    await audit.record_write(runtime, user_id="U1", action="close", case_id="c3", case_reference="R",
                             summary={}, result={})
    assert not fake_slack.journal.calls("chat.postMessage")


async def test_a_failing_channel_post_does_not_raise(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client)
    await redis.hset(keys.case_channel("c4"), mapping={"id": "CNOTTHERE", "name": "x", "archived": "0"})
    entry_id = await audit.record_write(runtime, user_id="U1", action="fees", case_id="c4",
                                        case_reference="R", summary={}, result={})
    assert entry_id
    assert fake_slack.journal.calls("chat.postMessage", ok=False)


async def test_no_audit_line_in_a_case_channel_shared_with_another_organisation(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, redis: aioredis.Redis, keys: Keys
) -> None:
    ws = fake_slack.workspace
    channel = ws.add_channel("case-q8oaxf3w", is_private=True, shared="external")
    runtime = make_runtime(redis=redis, keys=keys, slack=slack_client)
    await redis.hset(keys.case_channel("c5"),
                     mapping={"id": channel.id, "name": channel.name, "archived": "0"})
    entry_id = await audit.record_write(runtime, user_id="U1", action="payment", case_id="c5",
                                        case_reference="R", summary={}, result={},
                                        line="recorded a payment of 250.00 EUR")
    assert entry_id and len(await audit.recent_entries(runtime)) == 1  # still audited in Redis
    assert not fake_slack.journal.calls("chat.postMessage")
