"""The layers point one way (docs/ARCHITECTURE.md, "Who imports whom"): read every module's imports
(top level, inside functions and under TYPE_CHECKING alike) and check the rules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> packages it must never import (at any depth, lazily or not)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "bot.services": ("bot.relay", "bot.listeners"),
    "bot.relay": ("bot.services", "bot.listeners"),
    "bot.slack": ("bot.relay", "bot.services", "bot.listeners"),
    "bot.store": ("bot.relay", "bot.services", "bot.listeners", "bot.slack", "bot.attention"),
    "bot.tenancy": ("bot.relay", "bot.services", "bot.listeners", "bot.slack"),
    "bot.attention": ("bot.relay", "bot.services", "bot.listeners", "bot.slack", "bot.runtime", "blocks"),
    "bot.debitura": ("bot.relay", "bot.services", "bot.listeners", "bot.slack", "bot.store", "bot.runtime",
                     "bot.attention"),
    "blocks": ("bot.relay", "bot.services", "bot.listeners", "bot.slack", "bot.store", "bot.runtime",
               "bot.attention"),
    # `caseroom smoke` drives services and reads the relay's state, like an admin beside a running
    # Caseroom: never the Slack listeners or the server.
    "bot.smoke": ("bot.listeners", "bot.server", "bot.web", "bot.app"),
}

def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(text: str, package: str) -> set[str]:
    """Every module `text` imports (absolute names; `from a import b` also counts `a.b`), relative
    imports resolved against `package`."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def imports_of(path: Path) -> set[str]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imports_in(path.read_text(encoding="utf-8"), package)


def modules(package: str) -> list[Path]:
    single = ROOT / (package.replace(".", "/") + ".py")
    if single.exists():
        return [single]
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_point_one_way(package: str) -> None:
    found = modules(package)
    assert found, f"no modules under {package}"
    broken = sorted(
        f"{module_name(path)} imports {name}"
        for path in found
        for name in imports_of(path)
        for banned in FORBIDDEN[package]
        if within(name, banned)
    )
    assert not broken, "\n".join(broken)


def listener_modules() -> dict[str, Path]:
    """The listener modules: those directly under bot/listeners with a top-level `register(app, runtime)`.
    Shared helpers (`_context`) and helper packages (such as write flows) are not listeners."""
    out: dict[str, Path] = {}
    for path in sorted((ROOT / "bot" / "listeners").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "register"
               for node in tree.body):
            out[module_name(path)] = path
    return out


def test_listeners_do_not_import_each_other() -> None:
    """Listener modules share code through bot.listeners._context and the services only."""
    listeners = listener_modules()
    assert {"bot.listeners.commands", "bot.listeners.cards"} <= set(listeners)
    ties = {
        (name, other)
        for name, path in listeners.items()
        for imported in imports_of(path)
        for other in listeners
        if other != name and within(imported, other)
    }
    assert not ties, sorted(ties)


def test_the_reader_sees_lazy_typing_and_relative_imports() -> None:
    text = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from bot.listeners import cards\n"
        "def f():\n    from bot.relay import store\n"
        "from ..relay.model import Delivery\n"
        "import bot.slack.errors\n"
    )
    names = imports_in(text, "bot.services")
    assert {"bot.listeners.cards", "bot.relay.store", "bot.relay.model.Delivery", "bot.slack.errors"} <= names




def key_builders() -> set[str]:
    from bot.store.keys import Keys

    return {name for name in vars(Keys) if not name.startswith("_") and callable(getattr(Keys, name))}


def builds_keys(path: Path, names: set[str]) -> list[str]:
    """`<something>.keys.<Keys method>` and `Keys(...)` in `path`: the places that name Redis keys."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in names:
            owner = node.value
            owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if owner_name == "keys":
                found.append(f"{module_name(path)}:{node.lineno} keys.{node.attr}")
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Keys":
            found.append(f"{module_name(path)}:{node.lineno} Keys(...)")
    return found


def test_only_the_cli_imports_the_smoke_runner() -> None:
    importers = sorted(
        module_name(path) for path in modules("bot") + modules("blocks")
        if module_name(path) not in ("bot.cli", "bot.smoke")
        and any(within(name, "bot.smoke") for name in imports_of(path))
    )
    assert not importers, importers


@pytest.mark.parametrize("package", ["bot.services", "bot.slack", "bot.listeners", "bot.smoke",
                                     "bot.attention"])
def test_stores_own_their_keys(package: str) -> None:
    """Services, the Slack gateway and listeners reach state through `runtime.stores` (bot/store)."""
    names = key_builders()
    assert {"case_state", "followed", "case_channel", "audit_stream", "slack_user", "write_outcome"} <= names
    found = [hit for path in modules(package) for hit in builds_keys(path, names)]
    assert not found, "\n".join(found)
