"""views.open, views.push, views.update, views.publish."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.slack.api import Context, method
from tests.fakes.slack.errors import SlackError
from tests.fakes.slack.validation import validate_view
from tests.fakes.slack.workspace import View

MAX_VIEW_BYTES = 250_000


def parse_view(ctx: Context, *, kind: str) -> dict[str, Any]:
    """The `view` argument, checked like Slack: `invalid_arguments` with json-pointer messages."""
    if not ctx.args.has("view"):
        raise SlackError("invalid_arguments", messages=["missing required field: view [json-pointer:/view]"])
    view = ctx.args.decoded("view", "invalid_arguments")
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments", messages=["must provide an object [json-pointer:/view]"])
    if len(json.dumps(view)) > MAX_VIEW_BYTES:
        raise SlackError("view_too_large")
    errors = validate_view(view)
    if errors:
        raise SlackError("invalid_arguments", messages=errors)
    if view.get("type") != kind:
        raise SlackError(
            "invalid_arguments",
            messages=[f"must be a {kind} view for {ctx.method} [json-pointer:/view/type]"],
        )
    external_id = view.get("external_id")
    opening = ctx.method in ("views.open", "views.push")
    if external_id and opening and any(v.external_id == external_id for v in ctx.ws.views.values()):
        raise SlackError("duplicate_external_id")
    return view


def _check_hash(ctx: Context, view: View) -> None:
    expected = ctx.args.string("hash")
    if expected is not None and expected != view.hash:
        raise SlackError("hash_conflict")


@method("views.open")
async def open_view(ctx: Context) -> dict[str, Any]:
    data = parse_view(ctx, kind="modal")
    trigger = ctx.ws.use_trigger(ctx.args.string("trigger_id"))
    view = ctx.ws.open_modal(trigger.user_id, data)
    return {"view": view.to_api()}


@method("views.push")
async def push_view(ctx: Context) -> dict[str, Any]:
    data = parse_view(ctx, kind="modal")
    trigger = ctx.ws.use_trigger(ctx.args.string("trigger_id"))
    view = ctx.ws.push_modal(trigger.user_id, data)
    return {"view": view.to_api()}


@method("views.update")
async def update_view(ctx: Context) -> dict[str, Any]:
    if not ctx.args.has("view_id") and not ctx.args.has("external_id"):
        raise SlackError(
            "invalid_arguments", messages=["must provide view_id or external_id [json-pointer:/view_id]"]
        )
    view = ctx.ws.find_view(ctx.args.string("view_id"), ctx.args.string("external_id"))
    data = parse_view(ctx, kind=view.type)
    _check_hash(ctx, view)
    return {"view": ctx.ws.replace_view(view, data).to_api()}


@method("views.publish")
async def publish_view(ctx: Context) -> dict[str, Any]:
    if not ctx.args.string("user_id"):
        raise SlackError("invalid_arguments",
                         messages=["missing required field: user_id [json-pointer:/user_id]"])
    user = ctx.ws.user(ctx.args.string("user_id"))
    data = parse_view(ctx, kind="home")
    existing = ctx.ws.home_views.get(user.id)
    if existing:
        _check_hash(ctx, ctx.ws.views[existing])
    return {"view": ctx.ws.publish_home(user.id, data).to_api()}
