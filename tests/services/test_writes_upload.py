"""Uploading a Slack file to a case: files.info on the fake Slack, the download, the sandbox upload."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from slack_sdk.web.async_client import AsyncWebClient

from blocks.parse import UploadForm
from bot.debitura.client import DebituraClient
from bot.debitura.ratelimit import UnlimitedLimiter
from bot.metrics import Metrics
from bot.runtime import Runtime
from bot.services import audit, uploads
from bot.services.errors import BadInput
from bot.store.keys import Keys
from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.workspace import File
from tests.fixtures.sandbox import SandboxHandle
from tests.services.helpers import make_settings

pytestmark = pytest.mark.sandbox

PDF = b"%PDF-1.4 fake invoice\n" * 100


@pytest.fixture
async def runtime(
    sandbox: SandboxHandle,
    fake_slack: FakeSlack,
    redis: aioredis.Redis,
    keys: Keys,
    slack_client: AsyncWebClient,
) -> AsyncIterator[Runtime]:
    client = DebituraClient(sandbox.url, sandbox.api_key, limiter=UnlimitedLimiter(), max_retries=0)
    settings = make_settings(
        debitura_api_url=sandbox.url, slack_api_url=fake_slack.api_url, slack_bot_token=fake_slack.bot_token
    )
    rt = Runtime(
        settings=settings,
        keys=keys,
        redis=redis,
        debitura=client,
        debitura_background=client,
        slack=slack_client,
        metrics=Metrics(),
    )
    yield rt
    await client.aclose()


def slack_file(fake: FakeSlack, name: str, content: bytes) -> File:
    ws = fake.workspace
    file = File(
        id=ws.new_id("F"),
        name=name,
        length=len(content),
        user=ws.BOT_USER_ID,
        created=int(ws.now()),
        content=content,
        completed=True,
    )
    ws.files[file.id] = file
    return file


def serving(content: bytes, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=content)

    return httpx.MockTransport(handle)


async def test_upload_from_slack_reaches_the_case(
    runtime: Runtime, sandbox: SandboxHandle, fake_slack: FakeSlack
) -> None:
    case = await runtime.debitura.get_case(sandbox.case("Active")["id"])
    file = slack_file(fake_slack, "invoice-2026.pdf", PDF)
    seen: list[httpx.Request] = []
    form = UploadForm(
        file_id=file.id,
        filename=file.name,
        size=None,
        document_type="OriginalInvoice",
        description="The original invoice",
    )
    result = await uploads.upload_from_slack(
        runtime, case=case, form=form, user_id="U1", transport=serving(PDF, seen)
    )
    assert result.ok and "invoice-2026.pdf" in result.text
    assert seen[0].headers["authorization"] == f"Bearer {fake_slack.bot_token}"
    assert str(seen[0].url).startswith(fake_slack.base_url)
    files = await runtime.debitura.list_files(case.id)
    uploaded = [f for f in files if f.file_name == "invoice-2026.pdf"]
    assert uploaded and uploaded[0].document_type == "OriginalInvoice"
    assert [e["action"] for e in await audit.recent_entries(runtime)] == ["upload"]


async def test_upload_refuses_a_file_that_grows_past_25_mb(
    runtime: Runtime, sandbox: SandboxHandle, fake_slack: FakeSlack
) -> None:
    case = await runtime.debitura.get_case(sandbox.case("Active")["id"])
    file = slack_file(fake_slack, "big.zip", b"x")  # Slack said 1 byte; the download is larger
    form = UploadForm(file_id=file.id, filename=file.name, size=1, document_type=None, description=None)
    with pytest.raises(BadInput, match="25 MB"):
        await uploads.upload_from_slack(
            runtime, case=case, form=form, user_id="U1", transport=serving(b"x" * (25 * 1024 * 1024 + 1), [])
        )


async def test_upload_checks_the_name_slack_reports(
    runtime: Runtime, sandbox: SandboxHandle, fake_slack: FakeSlack
) -> None:
    case = await runtime.debitura.get_case(sandbox.case("Active")["id"])
    file = slack_file(fake_slack, "tool.exe", b"MZ")
    form = UploadForm(file_id=file.id, filename="renamed.pdf", size=2, document_type=None, description=None)
    seen: list[httpx.Request] = []
    with pytest.raises(BadInput, match=r"\.pdf"):
        await uploads.upload_from_slack(
            runtime, case=case, form=form, user_id="U1", transport=serving(b"", seen)
        )
    assert seen == []  # nothing downloaded


def test_bot_token_only_goes_to_slack() -> None:
    api = "http://127.0.0.1:5555/api/"
    assert uploads.token_may_go_to("http://127.0.0.1:5555/files/F1/a.pdf", api)
    assert uploads.token_may_go_to("https://files.slack.com/files-pri/T1-F1/a.pdf", "https://slack.com/api/")
    assert not uploads.token_may_go_to("https://evil.example/files/a.pdf", "https://slack.com/api/")
    assert not uploads.token_may_go_to("https://slack.com.evil.example/a.pdf", "https://slack.com/api/")
    assert not uploads.token_may_go_to("http://files.slack.com/a.pdf", "https://slack.com/api/")
    assert not uploads.token_may_go_to("http://127.0.0.1:6666/files/a.pdf", api)


async def test_download_from_the_fake_slacks_url_private(runtime: Runtime, fake_slack: FakeSlack) -> None:
    """No transport stub: files.info's url_private is served by the fake with the bot token."""
    file = slack_file(fake_slack, "statement.pdf", PDF)
    info = await uploads.slack_file_info(runtime, file.id)
    assert info["url_private"] == f"{fake_slack.base_url}files/{file.id}/statement.pdf"
    assert await uploads.download_slack_file(runtime, info["url_private"]) == PDF


async def test_url_private_needs_the_bot_token_and_a_known_file(fake_slack: FakeSlack) -> None:
    file = slack_file(fake_slack, "statement.pdf", PDF)
    url = f"{fake_slack.base_url}files/{file.id}/statement.pdf"
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).status_code == 401
        bad = await http.get(url, headers={"Authorization": "Bearer xoxb-wrong"})
        assert bad.status_code == 401
        bot = {"Authorization": f"Bearer {fake_slack.bot_token}"}
        assert (await http.get(url, headers=bot)).content == PDF
        unknown = await http.get(f"{fake_slack.base_url}files/F0NOPE/statement.pdf", headers=bot)
        assert unknown.status_code == 404
        renamed = await http.get(f"{fake_slack.base_url}files/{file.id}/other.pdf", headers=bot)
        assert renamed.status_code == 404


async def test_a_refused_download_is_explained(runtime: Runtime, fake_slack: FakeSlack) -> None:
    with pytest.raises(BadInput, match="HTTP 404"):
        await uploads.download_slack_file(runtime, f"{fake_slack.base_url}files/F0NOPE/x.pdf")
