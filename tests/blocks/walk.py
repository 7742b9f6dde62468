"""Helpers to look into built messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def text_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every text object (`{"type": "mrkdwn"|"plain_text", "text": ...}`) in a block tree."""
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            yield node
        for value in node.values():
            yield from text_objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from text_objects(item)


def mrkdwn_text(message: dict[str, Any]) -> str:
    """All mrkdwn texts of the message, joined by newlines (what Slack parses for mentions and links)."""
    return "\n".join(t["text"] for t in text_objects(message["blocks"]) if t["type"] == "mrkdwn")


def all_text(message: dict[str, Any]) -> str:
    return "\n".join(t["text"] for t in text_objects(message["blocks"]))


def action_ids(message: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    for block in message["blocks"]:
        if block["type"] == "actions":
            ids += [e["action_id"] for e in block["elements"]]
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and "action_id" in accessory:
            ids.append(accessory["action_id"])
    return ids
