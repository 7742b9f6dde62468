"""files.getUploadURLExternal (+ the upload URL), files.completeUploadExternal, files.info, bookmarks.add."""

from __future__ import annotations

from typing import Any

from tests.fakes.slack.api import Context, method
from tests.fakes.slack.api.conversations import _member_channel
from tests.fakes.slack.errors import SlackError
from tests.fakes.slack.workspace import Bookmark, File

MAX_FILE_BYTES = 1024 * 1024 * 1024


@method("files.getUploadURLExternal")
async def get_upload_url(ctx: Context) -> dict[str, Any]:
    filename = ctx.args.string("filename")
    if not filename:
        raise SlackError(
            "invalid_arguments", messages=["missing required field: filename [json-pointer:/filename]"]
        )
    length = ctx.args.integer("length", -1)
    if length < 0:
        raise SlackError(
            "invalid_arguments", messages=["missing required field: length [json-pointer:/length]"]
        )
    if length > MAX_FILE_BYTES:
        raise SlackError("file_too_large")
    file = File(
        id=ctx.ws.new_id("F"),
        name=filename,
        length=length,
        user=ctx.ws.BOT_USER_ID,
        created=int(ctx.ws.now()),
    )
    ctx.ws.files[file.id] = file
    return {"upload_url": f"{ctx.fake.base_url}upload/{file.id}", "file_id": file.id}


@method("files.completeUploadExternal")
async def complete_upload(ctx: Context) -> dict[str, Any]:
    entries = ctx.args.decoded("files", "invalid_arguments")
    if not isinstance(entries, list) or not entries:
        raise SlackError("invalid_arguments", messages=["must provide an array [json-pointer:/files]"])
    channels = ctx.args.items("channels")
    channel_id = ctx.args.string("channel_id") or (channels[0] if channels else None)
    channel = _member_channel(ctx.ws, channel_id) if channel_id else None
    done: list[File] = []
    for i, entry in enumerate(entries):
        file = ctx.ws.files.get(entry.get("id", "")) if isinstance(entry, dict) else None
        if file is None:
            raise SlackError("file_not_found")
        if file.content is None:
            raise SlackError(
                "invalid_arguments",
                messages=[f"file was not uploaded to its upload_url [json-pointer:/files/{i}]"],
            )
        if file.completed:
            raise SlackError("file_not_found")
        file.title = entry.get("title") or file.name
        done.append(file)
    for file in done:
        file.completed = True
        if channel is not None:
            file.channels.append(channel.id)
    if channel is not None:
        message = ctx.ws.add_bot_message(
            channel,
            text=ctx.args.string("initial_comment") or "",
            blocks=None,
            attachments=None,
            thread_ts=ctx.args.string("thread_ts"),
            metadata=None,
        )
        message.subtype = "file_share"
        message.files = [f.id for f in done]
    return {"files": [f.to_api(ctx.fake.base_url) for f in done]}


@method("files.info")
async def file_info(ctx: Context) -> dict[str, Any]:
    file = ctx.ws.files.get(ctx.args.string("file") or "")
    if file is None or not file.completed:
        raise SlackError("file_not_found")
    return {"file": file.to_api(ctx.fake.base_url)}


@method("bookmarks.add")
async def bookmarks_add(ctx: Context) -> dict[str, Any]:
    channel = _member_channel(ctx.ws, ctx.args.string("channel_id"))
    title = ctx.args.string("title")
    kind = ctx.args.string("type")
    if not title:
        raise SlackError(
            "invalid_arguments", messages=["missing required field: title [json-pointer:/title]"]
        )
    if kind != "link":
        raise SlackError("invalid_bookmark_type")
    link = ctx.args.string("link") or ""
    if not link.startswith(("http://", "https://")):
        raise SlackError("invalid_link")
    bookmark = Bookmark(
        id=ctx.ws.new_id("Bk"),
        channel_id=channel.id,
        title=title,
        type=kind,
        link=link,
        emoji=ctx.args.string("emoji"),
    )
    channel.bookmarks.append(bookmark)
    return {"bookmark": bookmark.to_api()}
