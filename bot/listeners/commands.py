"""The slash command (`/case` by default, settings.caseroom_command)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

    from bot.runtime import Runtime

USAGE = (
    "*Usage*\n"
    "`{cmd} <ref>` the case card (ref: Debitura reference, case id, `partner:<ref>`, "
    "`creditor:<creditor id>:<ref>`)\n"
    "`{cmd} list [status ...] [page N]` · `{cmd} find <ref1,ref2,...>`\n"
    "`{cmd} timeline|payments|files|period|validation <ref>`\n"
    "`{cmd} note <ref> [text]` · `{cmd} pay|chat|close|activate|fees|upload <ref>`\n"
    "`{cmd} follow|unfollow <ref>`"
)


def register(app: AsyncApp, runtime: Runtime) -> None:
    command = runtime.settings.caseroom_command

    @app.command(command)
    async def _on_command(ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any]) -> None:
        await ack(response_type="ephemeral", text=USAGE.format(cmd=command.get("command") or "/case"))
