"""Upload a file someone attached in Slack to a case.

The modal's file_input gives a Slack file id. `files.info` gives its private URL, which is fetched
with the bot token (only ever sent to Slack's own hosts), streamed with the 25 MB cap enforced, and
uploaded with the client. The file's name and size are checked before anything is downloaded.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from blocks.parse import UPLOAD_MAX_BYTES, UploadForm, check_upload_file
from blocks.text import esc
from bot.debitura.errors import DebituraError, OutcomeUnknown
from bot.services import audit
from bot.services.errors import BadInput
from bot.services.writes import WriteResult

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
TOO_LARGE = "The file is larger than 25 MB; Debitura accepts at most 25 MB."
SLACK_FILE_HOSTS = ("slack.com", "slack-edge.com", "slack-files.com")


def token_may_go_to(url: str, slack_api_url: str) -> bool:
    """The bot token is sent only to Slack's hosts (or the configured API host, e.g. a test fake)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        return False
    api = urlsplit(slack_api_url)
    if (parts.scheme, host, parts.port) == (api.scheme, (api.hostname or "").lower(), api.port):
        return True
    return parts.scheme == "https" and any(host == h or host.endswith("." + h) for h in SLACK_FILE_HOSTS)


async def slack_file_info(runtime: Runtime, file_id: str) -> dict[str, Any]:
    response = await runtime.slack.files_info(file=file_id)
    info = response.get("file")
    if not isinstance(info, dict):
        raise BadInput("Slack did not return the attached file; attach it again.")
    return info


async def download_slack_file(runtime: Runtime, url: str, *, limit: int = UPLOAD_MAX_BYTES,
                              transport: httpx.AsyncBaseTransport | None = None) -> bytes:
    """GET the private file URL with the bot token; refuses more than `limit` bytes."""
    if not token_may_go_to(url, str(runtime.settings.slack_api_url)):
        raise BadInput("Slack gave a file address outside Slack; the file was not downloaded.")
    token = runtime.settings.slack_bot_token.get_secret_value()
    headers = {"Authorization": f"Bearer {token}"}
    chunks: list[bytes] = []
    size = 0
    http = httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT, transport=transport, follow_redirects=False)
    async with http, http.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            raise BadInput(f"Slack refused to hand over the file (HTTP {response.status_code}); "
                           "attach it again.")
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise BadInput(TOO_LARGE)
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise BadInput(TOO_LARGE)
            chunks.append(chunk)
    return b"".join(chunks)


async def upload_from_slack(runtime: Runtime, *, case: Case, form: UploadForm, user_id: str,
                            transport: httpx.AsyncBaseTransport | None = None) -> WriteResult:
    reference = case.reference or case.id
    info = await slack_file_info(runtime, form.file_id)
    name = str(info.get("name") or form.filename)
    size = info.get("size") if isinstance(info.get("size"), int) else form.size
    problem = check_upload_file(name, size)
    if problem:
        raise BadInput(problem)
    url = info.get("url_private_download") or info.get("url_private")
    if not isinstance(url, str) or not url:
        raise BadInput("Slack did not give Caseroom access to the file; attach it again.")
    content = await download_slack_file(runtime, url, transport=transport)
    if not content:
        raise BadInput("The file is empty.")
    summary = {"file_name": name, "bytes": len(content), "document_type": form.document_type,
               "description_chars": len(form.description or "")}
    try:
        uploaded = await runtime.debitura.upload_file(case.id, filename=name, content=content,
                                                      document_type=form.document_type,
                                                      description=form.description)
    except OutcomeUnknown:
        try:
            files = await runtime.debitura.list_files(case.id)
        except DebituraError:
            return WriteResult(ok=False, text=(
                f"Debitura did not answer, so we cannot tell whether {esc(name)} reached "
                f"*{esc(reference)}*. Look at the case's files before uploading it again."))
        if not any(f.file_name == name for f in files):
            return WriteResult(ok=False, text=(
                f"Debitura did not answer, and {esc(name)} is not among the files of *{esc(reference)}*: "
                "it was not uploaded. Try again."))
        await audit.record_write(runtime, user_id=user_id, action="upload", case_id=case.id,
                                 case_reference=case.reference, summary=summary,
                                 result={"resolved": "files re-read"}, line=f"uploaded {name}")
        return WriteResult(ok=True, text=f"{esc(name)} is on *{esc(reference)}* (confirmed by re-reading "
                                         "the files).")
    await audit.record_write(runtime, user_id=user_id, action="upload", case_id=case.id,
                             case_reference=case.reference, summary=summary,
                             result={"file_id": uploaded.id}, line=f"uploaded {name}")
    return WriteResult(ok=True, text=f"{esc(name)} uploaded to *{esc(reference)}*. The creditor can see it.",
                       data={"file_id": uploaded.id})
