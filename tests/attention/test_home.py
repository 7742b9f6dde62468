"""App Home's view (blocks/home.py) and its service (bot/services/home.py) on in-memory stores."""

from __future__ import annotations

import json

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from slack_sdk.web.async_client import AsyncWebClient

from blocks.home import (
    HomeData,
    HomeItem,
    HomeSection,
    PrefsForm,
    TeamRow,
    build_degraded_home,
    build_home,
    build_no_account_home,
    build_settings_view,
    parse_settings_form,
)
from blocks.ids import Action, Block
from blocks.metadata import HomePage
from bot.services import home
from bot.store.attention import MemoryAttention, Prefs
from bot.store.cases import CaseState, MemoryCaseStates
from bot.store.keys import Keys
from bot.store.snapshots import CaseMarks, CaseSnap
from bot.store.stores import Stores
from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.validation import assert_valid_view
from tests.services.helpers import make_runtime

NOW = 1_800_000_000.0
DAY = 86400.0
TITLES = (
    "Waiting for activation",
    "Creditor waiting for a reply",
    "Needs info",
    "Exclusive period ending",
    "Recently paid",
    "Recently closed",
)
KEYS = (
    "waiting_activation",
    "creditor_waiting",
    "needs_info",
    "exclusive_ending",
    "recently_paid",
    "recently_closed",
)


def items(prefix: str, count: int, *, pending: bool = False) -> list[HomeItem]:
    return [
        HomeItem(
            case_id=f"{prefix}-{n:04d}",
            reference=f"{prefix[:3].upper()}{n:05d}",
            debtor=f"Debtor <{n}>",
            amount="1234.5",
            currency="EUR",
            since=NOW - n * 3600,
            due=NOW + DAY,
            pending=pending,
        )
        for n in range(count)
    ]


def data(
    counts: tuple[int, ...], *, page: int = 0, team: list[TeamRow] | None = None, muted: int = 0
) -> HomeData:
    sections = [
        HomeSection(
            key=k,
            title=t,
            items=items(k, n, pending=k == "waiting_activation"),
            alarm=not k.startswith("recently"),
        )
        for k, t, n in zip(KEYS, TITLES, counts, strict=True)
    ]
    return HomeData(
        now=NOW,
        sections=sections,
        muted=items("muted", muted),
        team=team,
        team_titles=("a", "b", "c", "d", "e", "f"),
        page=page,
        rows=45,
    )


def refs_of(view: dict[str, object]) -> list[str]:
    out = []
    for block in view["blocks"]:  # type: ignore[attr-defined]
        text = (block.get("text") or {}).get("text", "")
        if block["type"] == "section" and text.startswith("*") and "·" in text:
            out.append(text[1:].split("*", 1)[0])
    return out


def pages(home_data: HomeData) -> list[dict[str, object]]:
    views = []
    page = 0
    while True:
        home_data.page = page
        view = build_home(home_data)
        assert_valid_view(view)  # Slack's rules: 100 blocks, text lengths, ids
        views.append(view)
        nav = [
            e
            for b in view["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == Action.HOME_PAGE_NEXT
        ]
        if not nav:
            return views
        page = HomePage.decode(nav[0]["value"]).page
        assert page == len(views)


def test_a_long_queue_pages_within_the_block_limit_and_shows_every_case_once() -> None:
    team = [TeamRow(who=f"<@U{n:05d}>", counts=(n, 1, 2, 3, 4, 5)) for n in range(60)]
    home_data = data((120, 90, 40, 100, 80, 70), team=team, muted=12)
    views = pages(home_data)
    assert len(views) > 10
    assert all(len(v["blocks"]) <= 100 for v in views)  # type: ignore[arg-type]
    shown = [ref for v in views for ref in refs_of(v)]
    expected = [i.reference for s in home_data.sections for i in s.items] + [
        i.reference for i in home_data.muted
    ]
    assert shown == expected  # in order, each once
    first = json.dumps(views[0])
    assert ("Team" in first and "<@U00059>" not in first.split("Waiting")[0]) or "…and" in first
    assert "Team" not in json.dumps(views[1])
    last = views[-1]["blocks"]
    assert any(
        b["type"] == "actions" and [e["text"]["text"] for e in b["elements"]] == ["Previous"] for b in last
    )  # type: ignore[union-attr,index]
    # a page past the end shows the last page
    home_data.page = 10_000
    assert refs_of(build_home(home_data)) == refs_of(views[-1])


def test_rows_carry_their_buttons_and_escape_debitura_text() -> None:
    view = build_home(data((1, 1, 0, 0, 0, 0)))
    text = json.dumps(view)
    assert "Debtor &lt;0&gt;" in text and "Debtor <0>" not in text
    actions = [[e["action_id"] for e in b["elements"]] for b in view["blocks"] if b["type"] == "actions"]
    assert [
        Action.HOME_OPEN_CARD,
        Action.HOME_REPLY,
        Action.HOME_ACTIVATE,
        Action.HOME_FOLLOW,
        Action.HOME_MUTE,
    ] in actions  # pending: Activate
    assert [Action.HOME_OPEN_CARD, Action.HOME_REPLY, Action.HOME_FOLLOW, Action.HOME_MUTE] in actions
    assert "1,234.50 EUR" in text and "waiting 1 min" in text
    empty = build_home(data((0, 0, 0, 0, 0, 0)))
    assert_valid_view(empty)
    assert "Nothing needs you right now" in json.dumps(empty)


def test_message_homes_are_valid() -> None:
    for view in (build_degraded_home(), build_no_account_home("a@b.test"), build_no_account_home(None)):
        assert_valid_view(view)
    assert "does not match" in json.dumps(build_no_account_home("a@b.test"))


def test_settings_form_round_trip_and_errors() -> None:
    form = PrefsForm(
        dms=frozenset({"assigned"}),
        reminders=frozenset(),
        options=frozenset({"digest"}),
        quiet_start="18:00",
        quiet_end="08:00",
        digest_time="07:30",
    )
    view = build_settings_view(form, page=2)
    assert_valid_view(view)

    def values(**times: str | None) -> dict[str, object]:
        out: dict[str, object] = {
            Block.PREF_DMS: {
                "value": {
                    "type": "checkboxes",
                    "selected_options": [{"value": "assigned"}, {"value": "bogus"}],
                }
            },
            Block.PREF_OPTIONS: {"value": {"type": "checkboxes", "selected_options": [{"value": "digest"}]}},
        }
        for block, value in times.items():
            out[block] = {"value": {"type": "timepicker", "selected_time": value}}
        return out

    parsed = parse_settings_form(
        values(pref_quiet_start="18:00", pref_quiet_end="08:00", pref_digest_time="07:30")
    )
    assert parsed == form
    assert parse_settings_form(values(pref_quiet_start="18:00", pref_digest_time="07:30")) == {
        "pref_quiet_end": "Give both the start and the end, or leave both empty for no quiet hours."
    }
    assert "pref_digest_time" in parse_settings_form(values())  # type: ignore[operator]


def snap_state(case_id: str, email: str, **extra: object) -> dict[str, str]:
    case = CaseSnap.model_validate(
        {
            "id": case_id,
            "reference": case_id.upper(),
            "lifecycle": "Active",
            "debtor": "D",
            "assignee_email": email,
            **extra,
        }
    )
    return CaseState(first_seen=NOW - DAY, case=case, marks=CaseMarks(waiting_since=NOW - 3600)).to_hash()


async def test_the_service_builds_each_persons_home_from_the_stores(
    fake_slack: FakeSlack,
    slack_client: AsyncWebClient,
) -> None:
    ws = fake_slack.workspace
    ana = ws.add_user("ana", email="Ana@Partner.test")
    boss = ws.add_user("boss", email="boss@partner.test")
    nobody = ws.add_user("nobody", email="nobody@partner.test")
    runtime = make_runtime(
        redis=aioredis.Redis(host="127.0.0.1", port=1),
        keys=Keys("t:"),
        slack=slack_client,
        caseroom_admin_users=boss.id,
    )
    stores = runtime.stores = Stores.in_memory()
    assert isinstance(stores.cases, MemoryCaseStates) and isinstance(stores.attention, MemoryAttention)
    for case_id, email in (
        ("ana00001", "ana@partner.test"),
        ("ana00002", "ana@partner.test"),
        ("un000001", ""),
        ("gh000001", "ghost@partner.test"),
    ):
        stores.cases.state[case_id] = snap_state(case_id, email)
        await stores.attention.index(case_id, None, email)
    await stores.attention.save_account("ghost@partner.test", "", NOW)

    view = await home.home_view(runtime, ana.id, now=NOW)
    assert_valid_view(view)
    assert refs_of(view) == ["ANA00001", "ANA00002"] and "Team" not in json.dumps(view)
    boss_view = await home.home_view(runtime, boss.id, now=NOW)
    text = json.dumps(boss_view, ensure_ascii=False)
    assert refs_of(boss_view) == ["GH000001", "UN000001"]  # unassigned + no Slack account
    assert f"<@{ana.id}>: 0 · 2 · 0" in text and "ghost@partner.test _(no Slack account" in text
    # no team list cached yet: nobody is not told they have no account (it is not known), just no cases
    unknown = json.dumps(await home.home_view(runtime, nobody.id, now=NOW))
    assert "does not match" not in unknown and "Nothing needs you right now" in unknown
    await stores.identity.replace_team({"ana@partner.test": '{"id": "u1"}'}, NOW)
    assert "does not match any member" in json.dumps(await home.home_view(runtime, nobody.id, now=NOW))
    # muting hides the case from the queue and lists it as muted
    assert await home.mute(runtime, ana.id, "ana00001", muted=True)
    muted_view = await home.home_view(runtime, ana.id, now=NOW)
    assert refs_of(muted_view) == ["ANA00002", "ANA00001"] and "*Muted* (1)" in json.dumps(muted_view)
    # settings: the modal shows the defaults, a save is stored as the person's preferences
    settings = await home.settings_view(runtime, ana.id)
    assert_valid_view(settings)
    form = PrefsForm(
        dms=frozenset({"assigned"}),
        reminders=frozenset({"reply"}),
        options=frozenset(),
        quiet_start=None,
        quiet_end=None,
        digest_time="09:15",
    )
    await home.save_settings(runtime, ana.id, form)
    prefs = await stores.attention.prefs(ana.id, Prefs.defaults(runtime.settings))
    assert (
        sorted(prefs.dms),
        sorted(prefs.reminders),
        prefs.quiet_span(),
        prefs.digest,
        prefs.digest_time,
    ) == (["assigned"], ["reply"], None, False, "09:15")
    await runtime.redis.aclose()


async def test_redis_down_gives_a_degraded_home(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    user = fake_slack.workspace.add_user("ana", email="ana@partner.test")
    down = aioredis.Redis(
        host="127.0.0.1",
        port=1,
        decode_responses=True,
        socket_connect_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )  # fail at once (the default retries take seconds)
    runtime = make_runtime(redis=down, keys=Keys("t:"), slack=slack_client)
    view = await home.home_view(runtime, user.id, now=NOW)
    assert "Caseroom is degraded" in json.dumps(view)
    await home.show_home(runtime, user.id)  # published although the pacing store is down too
    published = fake_slack.journal.home_for(user.id)
    assert published is not None and "Caseroom is degraded" in json.dumps(published)
    await down.aclose()
