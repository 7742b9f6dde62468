"""`caseroom check` on a Redis Cluster in single-workspace mode (REDIS_URL=redis+cluster://...): the
running Caseroom keeps its state under the hash-tagged prefix (`{caseroom:v1}:...`, bot/runtime.base_keys),
and check reads that same state, not keys of the bare prefix no process writes."""

from __future__ import annotations

from typing import Any

from bot.check import Mark, run_check
from bot.debitura.client import ListingEnd, Truncated
from bot.runtime import base_keys, build_redis
from bot.store.attention import AttentionStore
from bot.store.listings import record_listing_end
from tests.ship.conftest import ThreadedSlack
from tests.ship.test_check import good_settings, line


async def test_check_on_a_cluster_reads_what_the_running_caseroom_wrote(
    threaded_slack: ThreadedSlack, sandbox: Any, cluster_url: str
) -> None:
    settings = good_settings(threaded_slack, sandbox, redis_url=cluster_url)
    assert settings.cluster_url is not None and not settings.multi_workspace
    keys = base_keys(settings)
    assert keys.prefix.startswith("{")  # what the runtime writes under
    threaded_slack.fake.workspace.add_user("known", email="known.agent@partner.example")
    redis = build_redis(settings)  # the runtime's own client and keys write the state
    store = AttentionStore(redis, keys)
    try:
        for case_id, email in (("c1", "known.agent@partner.example"), ("c2", "ghost@partner.example")):
            await store.index(case_id, None, email)
        await store.note_home_opened(1_800_000_000)
        await record_listing_end(redis, keys, ListingEnd("cases", 7, Truncated.REPEATED_PAGE),
                                 clock=lambda: 1_800_000_000)

        report = await run_check(settings)

        assert line(report, "redis").mark is not Mark.FAIL, line(report, "redis")
        home = line(report, "app home")
        assert home.mark is Mark.OK and "last opened 2027-01-15" in home.detail, home
        assignees = line(report, "assignees")
        assert assignees.mark is Mark.WARN, assignees
        assert "1 of 2 assignee emails have no Slack account: ghost@partner.example" in assignees.detail
        listings = line(report, "listings")
        assert listings.mark is Mark.WARN, listings
        assert "cases listing stopped after 7 page(s)" in listings.detail
        assert "used today" in line(report, "relay budget").detail  # the shared budget, read on the cluster
        # What check learned (Slack accounts of assignees) went back under the runtime's keys too.
        found = await store.accounts(["known.agent@partner.example", "ghost@partner.example"])
        assert found["ghost@partner.example"] is not None and found["ghost@partner.example"][0] == ""
    finally:
        async for key in redis.scan_iter(match=keys.workspace_pattern()):
            await redis.delete(key)
        await redis.aclose()
