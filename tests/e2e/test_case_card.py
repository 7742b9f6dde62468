"""`/case <ref>`, the card and its read buttons, through the real process, the fake Slack and the sandbox."""

from __future__ import annotations

import pytest

from blocks.ids import Action
from tests.e2e.case_helpers import action_ids, click, error_id, mrkdwn, render, replies, reply, run
from tests.fixtures.e2e import Caseroom
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.e2e


async def test_case_card_by_reference(caseroom: Caseroom, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active")
    ack = await run(caseroom, case["reference"])
    assert ack.text == ""  # the ack is empty; the card comes on the response_url
    post = await reply(caseroom, ack)
    assert post.ephemeral
    text = mrkdwn(post.body)
    assert case["reference"] in text and "Outstanding" in text and case["currency"] in text
    ids = action_ids(post.body)
    assert Action.OPEN_NOTE in ids and Action.SHARE in ids and Action.OPEN_ACTIVATE not in ids
    assert Action.OPEN_CLOSE in ids and Action.OPEN_FEES in ids


async def test_card_by_guid_partner_and_creditor_reference(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    case = sandbox.case("Active", partner_reference=True)
    ref = case["reference"]
    for text in (case["id"], f'partner:"{case["partnerReference"]}"',
                 f'creditor:{case["creditorId"]}:"{case["creditorReference"]}"'):
        post = await reply(caseroom_http, await run(caseroom_http, text))
        assert ref in mrkdwn(post.body), text


async def test_pending_case_offers_activate_and_closed_case_offers_no_close(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    pending = sandbox.case("PendingVerification")
    post = await reply(caseroom_http, await run(caseroom_http, pending["reference"]))
    assert Action.OPEN_ACTIVATE in action_ids(post.body)
    closed = sandbox.case("Closed")
    post = await reply(caseroom_http, await run(caseroom_http, closed["reference"]))
    ids = action_ids(post.body)
    assert Action.OPEN_CLOSE not in ids and Action.OPEN_FEES not in ids and Action.OPEN_ACTIVATE not in ids
    assert "Closed" in mrkdwn(post.body)


async def test_needs_info_card_lists_the_items(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    case = sandbox.case(needs_info=True, lifecycle=None)
    post = await reply(caseroom_http, await run(caseroom_http, case["reference"]))
    text = mrkdwn(post.body)
    assert "needs info" in text and "•" in text


async def test_help_and_bare_command_show_usage_in_the_ack(caseroom_http: Caseroom) -> None:
    for text in ("", "help"):
        ack = await run(caseroom_http, text)
        assert "/case list" in ack.text or "/case list" in str(ack.payload), ack.payload
        assert caseroom_http.fake.journal.responses(ack.response_url) == []


@pytest.mark.parametrize(
    ("text", "words", "example"),
    [
        ("frobnicate", "Unknown command `frobnicate`", "Example: `/case Q8OAXF3W`"),
        ("Q8OAX3", "not a case reference", "Example: `/case Q8OAXF3W`"),
        ("timeline creditor:nope:x", "creditor id (GUID)", "Example: `/case timeline Q8OAXF3W`"),
        ("list Sleeping", "`Sleeping` is not a case status",
         "Example: `/case list mine lifecycle:Active phase:Legal page 2`"),
    ],
)
async def test_malformed_commands_get_usage_and_an_example(
    caseroom_http: Caseroom, text: str, words: str, example: str
) -> None:
    ack = await run(caseroom_http, text)
    body = mrkdwn(ack.payload or {})
    assert words in body and example in body
    assert "`/case list [mine] [lifecycle:Active,Paused] [phase:Legal] [page N]`" in body
    assert "Traceback" not in body and "Traceback" not in caseroom_http.output
    assert ack.payload and ack.payload.get("response_type") == "ephemeral"


async def test_unknown_case_is_not_found_with_an_error_id_that_is_logged(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    foreign = sandbox.cases(None, ours=False, visible=None)[0]
    for ref in ("ZZZZ9999", foreign["reference"]):
        post = await reply(caseroom_http, await run(caseroom_http, ref))
        assert "Case not found, or not assigned to you." in post.text
        assert error_id(post.text) in caseroom_http.output


async def test_rate_limited_by_debitura_says_when_to_retry(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    case = sandbox.case("Active")
    sandbox.control.add_fault("/cases/case-reference/*", "GET", rate_limit_rate=1.0, retry_after=120)
    post = await reply(caseroom_http, await run(caseroom_http, case["reference"]))
    assert "Debitura is rate limiting us, try again in " in post.text
    assert " s." in post.text and error_id(post.text)


async def test_guests_and_slack_connect_users_are_refused(
    caseroom_http: Caseroom, sandbox: SandboxHandle
) -> None:
    case = sandbox.case("Active")
    ws = caseroom_http.fake.workspace
    guest = ws.add_user("gina", guest="multi")
    outsider = ws.add_user("otto", team_id="T0ELSEWHERE")
    post = await reply(caseroom_http, await run(caseroom_http, case["reference"], user=guest.id))
    assert "Guests cannot use Caseroom" in post.text and case["reference"] not in post.text
    post = await reply(caseroom_http, await run(caseroom_http, case["reference"], user=outsider.id))
    assert "other organisations" in post.text


async def test_no_ref_outside_a_case_channel_asks_which_case(caseroom_http: Caseroom) -> None:
    post = await reply(caseroom_http, await run(caseroom_http, "timeline"))
    assert "Which case?" in post.text


async def test_share_posts_the_card_for_everyone_only_when_clicked(
    caseroom: Caseroom, sandbox: SandboxHandle
) -> None:
    case = sandbox.case("Active")
    journal = caseroom.fake.journal
    card = render(caseroom, await reply(caseroom, await run(caseroom, case["reference"])))
    before = len(journal.messages(caseroom.channel.id))
    ack = await click(caseroom, card, Action.SHARE)
    shared = (await replies(caseroom, ack))[-1]
    assert not shared.ephemeral
    messages = journal.messages(caseroom.channel.id)
    assert len(messages) == before + 1
    posted = messages[-1]
    assert case["reference"] in posted.text
    assert f"Shared by <@{caseroom.user.id}>" in mrkdwn({"blocks": posted.blocks})
    assert Action.SHARE not in action_ids({"blocks": posted.blocks})


async def test_card_buttons_open_the_views(caseroom_http: Caseroom, sandbox: SandboxHandle) -> None:
    case = sandbox.case("Active", with_payments=True)
    card = render(caseroom_http, await reply(caseroom_http, await run(caseroom_http, case["reference"])))
    expected = {Action.SHOW_TIMELINE: "Timeline", Action.SHOW_PAYMENTS: "Payments",
                Action.SHOW_FILES: "Files"}
    for action_id, title in expected.items():
        post = await reply(caseroom_http, await click(caseroom_http, card, action_id))
        assert post.ephemeral
        assert f"{title} · {case['reference']}" in mrkdwn(post.body)
    view = await reply(caseroom_http, await click(caseroom_http, card, Action.SHOW_PAYMENTS))
    back = render(caseroom_http, view)
    again = await reply(caseroom_http, await click(caseroom_http, back, Action.SHOW_CARD))
    assert "Outstanding" in mrkdwn(again.body)
