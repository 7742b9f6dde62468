"""Relay tests log at DEBUG, so every log call (and its `extra` fields) is exercised."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _relay_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="bot")
