#!/usr/bin/env python3
"""Regenerate the configuration table in README.md from bot.config.Settings.

    .venv/bin/python scripts/readme_config.py          # rewrite README.md
    .venv/bin/python scripts/readme_config.py --check  # exit 1 if README.md is out of date

The table sits between the markers `<!-- config-table:start -->` and `<!-- config-table:end -->`;
tests/ship/test_readme.py runs the check.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import settings_table

README = Path(__file__).resolve().parents[1] / "README.md"
START = "<!-- config-table:start -->"
END = "<!-- config-table:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table() -> str:
    lines = ["| Variable | Default | What it does |", "| --- | --- | --- |"]
    for name, default, description in settings_table():
        shown = f"`{default}`" if default and default != "(required)" else (default or "(unset)")
        lines.append(f"| `{name}` | {_cell(shown)} | {_cell(description)} |")
    return "\n".join(lines)


def update(text: str) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"README.md lacks the markers {START} ... {END}")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{render_table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    current = README.read_text(encoding="utf-8")
    wanted = update(current)
    if "--check" in argv:
        if current != wanted:
            print("README.md's configuration table is out of date: run scripts/readme_config.py",
                  file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
