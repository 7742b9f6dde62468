"""README.md: the configuration table matches Settings, its links and commands exist."""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType

from bot.cli import build_parser
from bot.config import Settings
from tests.ship.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_config", REPO / "scripts" / "readme_config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_configuration_table_is_generated_from_settings() -> None:
    script = _script()
    assert script.update(README) == README, "run .venv/bin/python scripts/readme_config.py"
    for name in Settings.model_fields:
        assert f"| `{name.upper()}` |" in README


def test_readme_config_script_replaces_a_stale_table() -> None:
    script = _script()
    stale = README.replace("| `CASEROOM_PORT` | `3000` |", "| `CASEROOM_PORT` | `8000` |")
    assert stale != README
    assert script.update(stale) == README


def test_readme_relative_links_and_images_exist() -> None:
    for target in re.findall(r"\]\(([^)#\s]+)\)", README):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        assert (REPO / target).exists(), f"README links to missing {target}"


def test_readme_commands_exist() -> None:
    for script in ("scripts/run", "scripts/test"):
        assert (REPO / script).exists()
        assert f"./{script}" in README
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    choices = subparsers.choices
    assert choices is not None
    for sub in re.findall(r"`caseroom (\w+)", README):
        assert sub in choices, f"README mentions caseroom {sub}"
    for sub, flag in re.findall(r"caseroom (\w+) (--[\w-]+)", README):
        assert flag in choices[sub].format_help(), f"README mentions caseroom {sub} {flag}"


def test_readme_covers_the_topics_a_new_admin_needs() -> None:
    for heading in ("## Quickstart", "## Try it with the sandbox", "## Configuration", "## Scaling out",
                    "## Delivery semantics", "## Security", "## Troubleshooting"):
        assert heading in README
    assert "manifest.yml" in README and "SLACK_APP_TOKEN" in README and "DEBITURA_API_KEY" in README
