"""App Home (issue 13): `app_home_opened` publishes the person's queue; its buttons.

- `app_home_opened` (tab `home`): `bot.services.home.show_home` (Redis only, paced views.publish);
- Previous / Next / Refresh (`HOME_PAGE`): the page asked for, published again;
- Open card and Follow: the card (or the follow result) arrives in the app's Messages tab, where its
  own buttons work as everywhere else; Reply and Activate open the chat and activation forms;
- Mute / Unmute: the case leaves (or rejoins) the person's queue, DMs and reminders; the Home is
  published again on the same page;
- Notification settings: a modal (`Callback.HOME_SETTINGS`); saving it publishes the Home again.
A failure a person should see is sent to them in the Messages tab with an error id (a Home has no
response_url).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from blocks.home import parse_settings_form
from blocks.ids import Action, Callback
from blocks.metadata import HomeCase, HomePage, MetadataError
from bot.listeners._context import action_value, decode_case, user_and_channel
from bot.listeners.writes.opening import open_write_modal
from bot.services import home, identity
from bot.services.casework import follow_case, load_card
from bot.services.errors import BadInput, report

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncAck, AsyncApp

    from blocks.views import Message
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def _page(raw: str | None) -> int:
    try:
        return HomePage.decode(raw).page
    except MetadataError:
        return 0


def _home_page(body: dict[str, Any]) -> int:
    view = body.get("view") or {}
    return _page(view.get("private_metadata") if isinstance(view, dict) else None)


async def _tell(runtime: Runtime, user_id: str, message: Message) -> None:
    """A reply to something done on the Home: in the app's Messages tab."""
    await runtime.slack.chat_postMessage(channel=user_id, text=message.get("text") or "Caseroom",
                                         blocks=message.get("blocks") or None, unfurl_links=False)


async def _tell_error(runtime: Runtime, user_id: str, exc: Exception, where: str) -> None:
    text = report(exc, where=where, logger=log)
    try:
        await runtime.slack.chat_postMessage(channel=user_id, text=text)
    except Exception as again:  # the person will see nothing; the log has both
        log.warning("could not tell %s about a failed Home action: %s", user_id, type(again).__name__)


async def _show(runtime: Runtime, user_id: str, page: int, where: str, *, opened: bool = False) -> None:
    try:
        await home.show_home(runtime, user_id, page=page, opened=opened)
    except Exception as exc:
        report(exc, where=where, logger=log)


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.event("app_home_opened")
    async def _opened(event: dict[str, Any]) -> None:
        user_id = event.get("user")
        if event.get("tab", "home") != "home" or not isinstance(user_id, str) or not user_id:
            return  # the Messages tab: nothing to publish
        view = event.get("view")
        page = _page(view.get("private_metadata")) if isinstance(view, dict) else 0
        await _show(runtime, user_id, page, "app_home_opened", opened=True)

    for action_id in (Action.HOME_PAGE, Action.HOME_PAGE_PREVIOUS, Action.HOME_PAGE_NEXT):
        _register_page(app, runtime, action_id)

    @app.action(Action.HOME_OPEN_CARD)
    async def _open_card(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user_id, _ = user_and_channel(body)
        try:
            ref = decode_case(body)
            await identity.check_user(runtime, user_id)
            case = await runtime.debitura.get_case(ref.id)
            await _tell(runtime, user_id, await load_card(runtime, case, channel_id=None))
        except Exception as exc:
            await _tell_error(runtime, user_id, exc, "action home_open_card")

    @app.action(Action.HOME_FOLLOW)
    async def _follow(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user_id, _ = user_and_channel(body)
        try:
            ref = decode_case(body)
            await identity.check_user(runtime, user_id, write=True)
            case = await runtime.debitura.get_case(ref.id)
            await _tell(runtime, user_id, await follow_case(runtime, case, user_id=user_id))
        except Exception as exc:
            await _tell_error(runtime, user_id, exc, "action home_follow")

    for action_id, kind in ((Action.HOME_REPLY, "chat"), (Action.HOME_ACTIVATE, "activate")):
        _register_write(app, runtime, action_id, kind)

    for action_id, muted in ((Action.HOME_MUTE, True), (Action.HOME_UNMUTE, False)):
        _register_mute(app, runtime, action_id, muted)

    @app.action(Action.HOME_SETTINGS)
    async def _settings(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user_id, _ = user_and_channel(body)
        try:
            view = await home.settings_view(runtime, user_id, page=_home_page(body))
            await runtime.slack.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)
        except Exception as exc:
            await _tell_error(runtime, user_id, exc, "action home_settings")

    @app.view_submission(Callback.HOME_SETTINGS)
    async def _save_settings(ack: AsyncAck, body: dict[str, Any]) -> None:
        user_id, _ = user_and_channel(body)
        view = body.get("view") or {}
        values = ((view.get("state") or {}).get("values") or {}) if isinstance(view, dict) else {}
        form = parse_settings_form(values)
        if isinstance(form, dict):
            await ack(response_action="errors", errors=form)
            return
        try:
            await home.save_settings(runtime, user_id, form)
        except Exception as exc:
            text = report(exc, where="home settings", logger=log)
            await ack(response_action="errors", errors={"pref_dms": text[:150]})
            return
        await ack()
        await _show(runtime, user_id, _page(view.get("private_metadata")), "home settings saved")


def _register_page(app: AsyncApp, runtime: Runtime, action_id: Action) -> None:
    @app.action(action_id)
    async def _page_action(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user_id, _ = user_and_channel(body)
        await _show(runtime, user_id, _page(action_value(body)), f"action {action_id.value}")


def _register_write(app: AsyncApp, runtime: Runtime, action_id: Action, kind: str) -> None:
    @app.action(action_id)
    async def _open(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user_id, _ = user_and_channel(body)
        try:
            ref = decode_case(body)
            trigger_id = str(body.get("trigger_id") or "")
            await open_write_modal(runtime, runtime.slack, kind=kind, case_ref=ref.id, trigger_id=trigger_id,
                                   user_id=user_id, channel_id=None)
        except Exception as exc:
            await _tell_error(runtime, user_id, exc, f"action home {kind}")


def _register_mute(app: AsyncApp, runtime: Runtime, action_id: Action, muted: bool) -> None:
    @app.action(action_id)
    async def _mute(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user_id, _ = user_and_channel(body)
        try:
            try:
                target = HomeCase.decode(action_value(body))
            except MetadataError:
                raise BadInput("This button is from an older Home. Open the Home tab again.") from None
            await home.mute_listed(runtime, user_id, target.id, muted=muted)
        except Exception as exc:
            await _tell_error(runtime, user_id, exc, "action home mute")
            return
        await _show(runtime, user_id, target.page, "action home mute")
