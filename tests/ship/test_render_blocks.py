"""scripts/render_blocks.py: Block Kit to HTML for the README pictures, built from the real builders."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest

from blocks.text import actions, button, context, header, section
from tests.ship.conftest import REPO


@pytest.fixture(scope="module")
def render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_blocks", REPO / "scripts" / "render_blocks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_render_mrkdwn_keeps_escapes_and_renders_slack_forms(render: ModuleType) -> None:
    text = ("*Bold* &lt;script&gt; _it_ `code` <https://x.example|link> "
            "<!date^1700000000^{date}|2023-11-14> :moneybag:")
    out = render.mrkdwn_to_html(text)
    assert "<b>Bold</b>" in out and "<i>it</i>" in out and "<code>code</code>" in out
    assert "&lt;script&gt;" in out and "<script>" not in out
    assert '<span class="link">link</span>' in out
    assert "2023-11-14" in out and "!date" not in out
    assert "\U0001F4B0" in out


def test_render_quotes_become_blockquotes(render: ModuleType) -> None:
    assert render.mrkdwn_to_html(">one\n>two\nafter") == "<blockquote>one<br>two</blockquote>after"


def test_render_blocks_of_every_type_the_builders_use(render: ModuleType) -> None:
    blocks = [header("Case <X>"), section("*a*", fields=["f1", "f2"]), context("c"),
              actions([button("Close", "case_open_close", style="danger")]), {"type": "divider"}]
    out = render.blocks_to_html(blocks)
    assert "Case &lt;X&gt;" in out
    assert '<div class="fields"><div>f1</div><div>f2</div></div>' in out
    assert '<span class="btn danger">Close</span>' in out
    with pytest.raises(ValueError, match="input"):
        render.blocks_to_html([{"type": "input"}])


async def test_render_pages_come_from_the_builders_and_sandbox_data(render: ModuleType) -> None:
    pages = await render.build_pages()
    assert set(pages) == {"case-card", "case-channel", "app-home", "direct-messages"}
    card = pages["case-card"]
    for label in ("Debtor", "Creditor", "Outstanding", "Lifecycle", "Record payment", "Share in channel"):
        assert label in card
    channel = pages["case-channel"]
    assert "Reply" in channel and "(Creditor)" in channel and "registered on" in channel
    home = pages["app-home"]
    for label in ("My cases", "Waiting for activation", "Creditor waiting for a reply", "Open card",
                  "Activate", "Mute", "Notification settings", "Team", "Next"):
        assert label in home, label
    dms = pages["direct-messages"]
    for label in ("assigned to you", "Activate", "The creditor wrote", "waiting 26 hours", "Your cases"):
        assert label in dms


def test_render_readme_pictures_are_committed_pngs() -> None:
    for name in ("case-card", "case-channel", "app-home", "direct-messages"):
        data = (REPO / "docs" / "images" / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 10_000
