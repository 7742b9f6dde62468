"""Read-side actions on the case card, list and views (Timeline, Payments, Files, Share, Follow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.runtime import Runtime


def register(app: AsyncApp, runtime: Runtime) -> None:
    """Registers the read-side block actions (filled in as the views land)."""
