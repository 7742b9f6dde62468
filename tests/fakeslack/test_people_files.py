"""users.*, usergroups.users.list, files (upload v2) and bookmarks."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack.server import FakeSlack
from tests.fakeslack.helpers import error_code

pytestmark = pytest.mark.fakeslack


async def test_users_info_with_guest_flags_and_time_zone(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    ws = fake_slack.workspace
    member = ws.add_user("anna", tz="America/New_York", tz_offset=-18000)
    multi = ws.add_user("mguest", guest="multi")
    single = ws.add_user("sguest", guest="single")
    anna = (await slack_client.users_info(user=member.id))["user"]
    assert (anna["tz"], anna["tz_offset"], anna["profile"]["email"]) == (
        "America/New_York",
        -18000,
        "anna@example.com",
    )
    assert (anna["is_restricted"], anna["is_ultra_restricted"]) == (False, False)
    m = (await slack_client.users_info(user=multi.id))["user"]
    s = (await slack_client.users_info(user=single.id))["user"]
    assert (m["is_restricted"], m["is_ultra_restricted"]) == (True, False)
    assert (s["is_restricted"], s["is_ultra_restricted"]) == (True, True)
    assert await error_code(slack_client.users_info(user="U_GHOST")) == "user_not_found"


async def test_slack_connect_users_belong_to_another_team(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    external = fake_slack.workspace.add_user("partner", email="p@other.example", team_id="T0OTHERORG")
    info = (await slack_client.users_info(user=external.id))["user"]
    assert info["team_id"] == "T0OTHERORG" and info["is_stranger"] is True
    # lookupByEmail only searches this workspace's own members
    assert await error_code(slack_client.users_lookupByEmail(email="p@other.example")) == "users_not_found"


async def test_lookup_by_email(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    anna = fake_slack.workspace.add_user("anna", email="Anna@Agency.example")
    fake_slack.workspace.add_user("gone", email="gone@agency.example", deleted=True)
    assert (await slack_client.users_lookupByEmail(email="anna@agency.example"))["user"]["id"] == anna.id
    assert (
        await error_code(slack_client.users_lookupByEmail(email="gone@agency.example")) == "users_not_found"
    )
    assert (
        await error_code(slack_client.users_lookupByEmail(email="nobody@agency.example")) == "users_not_found"
    )


async def test_usergroup_members(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    anna = fake_slack.workspace.add_user("anna")
    group = fake_slack.workspace.add_group("admins", [anna.id])
    assert (await slack_client.usergroups_users_list(usergroup=group.id))["users"] == [anna.id]
    assert await error_code(slack_client.usergroups_users_list(usergroup="S_NOPE")) == "no_such_subteam"


async def test_files_upload_v2_goes_through_the_fakes_upload_url(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    channel = fake_slack.workspace.add_channel("docs")
    resp = await slack_client.files_upload_v2(
        channel=channel.id,
        content=b"%PDF-1.7 letter",
        filename="letter.pdf",
        title="Letter",
        initial_comment="the letter",
    )
    file_id = resp["files"][0]["id"]
    stored = fake_slack.workspace.files[file_id]
    assert (stored.content, stored.completed, stored.channels) == (b"%PDF-1.7 letter", True, [channel.id])
    info = (await slack_client.files_info(file=file_id))["file"]
    assert (info["name"], info["title"], info["size"]) == ("letter.pdf", "Letter", 15)
    share = fake_slack.journal.messages(channel.id)[-1]
    assert (share.subtype, share.files, share.text) == ("file_share", [file_id], "the letter")


async def test_complete_upload_needs_the_bytes_first(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    ticket = await slack_client.files_getUploadURLExternal(filename="a.txt", length=3)
    assert ticket["upload_url"].startswith(fake_slack.base_url)
    assert (
        await error_code(slack_client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}]))
        == "invalid_arguments"
    )
    assert (
        await error_code(slack_client.files_completeUploadExternal(files=[{"id": "F_NOPE"}]))
        == "file_not_found"
    )
    assert await error_code(slack_client.files_info(file=ticket["file_id"])) == "file_not_found"
    no_length = slack_client.api_call("files.getUploadURLExternal", params={"filename": "a.txt"})
    assert await error_code(no_length) == "invalid_arguments"


async def test_bookmarks_add(slack_client: AsyncWebClient, fake_slack: FakeSlack) -> None:
    channel = fake_slack.workspace.add_channel("case-1")
    outside = fake_slack.workspace.add_channel("elsewhere", bot_member=False)
    resp = await slack_client.bookmarks_add(
        channel_id=channel.id,
        title="Case in Debitura",
        type="link",
        link="https://app.debitura.example/cases/1",
    )
    assert resp["bookmark"]["title"] == "Case in Debitura"
    assert [b.link for b in channel.bookmarks] == ["https://app.debitura.example/cases/1"]
    assert (
        await error_code(
            slack_client.bookmarks_add(channel_id=channel.id, title="x", type="link", link="not a url")
        )
        == "invalid_link"
    )
    assert (
        await error_code(
            slack_client.bookmarks_add(
                channel_id=outside.id, title="x", type="link", link="https://x.example"
            )
        )
        == "not_in_channel"
    )


async def test_upload_url_accepts_a_multipart_body_and_checks_the_length(
    slack_client: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    import aiohttp

    ticket = await slack_client.files_getUploadURLExternal(filename="a.txt", length=5)
    async with aiohttp.ClientSession() as session:
        short = aiohttp.FormData()
        short.add_field("file", b"abc", filename="a.txt")
        async with session.post(ticket["upload_url"], data=short) as resp:
            assert resp.status == 400 and "length_mismatch" in await resp.text()
        good = aiohttp.FormData()
        good.add_field("file", b"hello", filename="a.txt")
        async with session.post(ticket["upload_url"], data=good) as resp:
            assert (resp.status, await resp.text()) == (200, "OK - 5")
        async with session.post(ticket["upload_url"], data=b"hello") as resp:
            assert resp.status == 404  # an upload URL takes one upload
    assert fake_slack.workspace.files[ticket["file_id"]].content == b"hello"
