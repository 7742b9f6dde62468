"""The write modals as data: one `WriteFlow` per write kind (flow.py says what a flow is made of).

A new write is one new flow: a module here with a `WriteFlow` subclass, listed in `FLOWS`. The
listeners (`bot.listeners.modals`) open and submit every flow the same way.
"""

from __future__ import annotations

from typing import Any

from blocks.ids import Action, Callback
from bot.listeners.writes.activate import ACTIVATE
from bot.listeners.writes.chat import CHAT
from bot.listeners.writes.close import CLOSE
from bot.listeners.writes.fees import FEES, FEES_CONFIRM
from bot.listeners.writes.flow import WriteFlow, WriteKind
from bot.listeners.writes.note import NOTE, PICK
from bot.listeners.writes.payment import PAY, PAY_DELETE, PAY_EDIT, PaymentChangeFlow
from bot.listeners.writes.upload import UPLOAD

FLOWS: tuple[WriteFlow[Any], ...] = (
    NOTE, PICK, PAY, PAY_EDIT, PAY_DELETE, CHAT, UPLOAD, CLOSE, ACTIVATE, FEES, FEES_CONFIRM)
BY_KIND: dict[WriteKind, WriteFlow[Any]] = {flow.kind: flow for flow in FLOWS}
BY_CALLBACK: dict[Callback, WriteFlow[Any]] = {flow.callback: flow for flow in FLOWS}
OPEN_ACTIONS: dict[Action, WriteKind] = {flow.open_action: flow.kind for flow in FLOWS if flow.open_action}
"""Case buttons that open a form (the same kinds `/case <kind> <ref>` opens)."""
CASE_KINDS: tuple[WriteKind, ...] = tuple(OPEN_ACTIONS.values())
PAYMENT_FLOWS: tuple[PaymentChangeFlow[Any], ...] = tuple(
    f for f in FLOWS if isinstance(f, PaymentChangeFlow))
"""Flows opened by a payment's Edit / Delete button."""

__all__ = ["BY_CALLBACK", "BY_KIND", "CASE_KINDS", "FLOWS", "OPEN_ACTIONS", "PAYMENT_FLOWS", "WriteFlow",
           "WriteKind"]
