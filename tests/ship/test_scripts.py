"""scripts/run and scripts/bootstrap.sh as a new user meets them, in a copy of the scripts beside a
stand-in .venv (a `python` that plays pip, a `caseroom` that echoes its arguments): no real install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.ship.conftest import REPO

PIP_NOISE = "BuildBackendWarning: Editable installation."


def fake_venv(bin_dir: Path, *, pip_fails: bool = False) -> None:
    bin_dir.mkdir(parents=True)
    # pip's real noise on a first install: progress on stdout, setuptools' warning block on stderr
    python = bin_dir / "python"
    python.write_text(
        "#!/bin/sh\n"
        "echo 'Collecting slack-bolt'\n"
        f"echo '  {PIP_NOISE}' >&2\n"
        f"exit {1 if pip_fails else 0}\n"
    )
    caseroom = bin_dir / "caseroom"
    caseroom.write_text("#!/bin/sh\necho \"caseroom $*\"\n")
    for exe in (python, caseroom):
        exe.chmod(0o755)


def fake_repo(tmp_path: Path, *, pip_fails: bool = False, installed: bool = False, venv: bool = True) -> Path:
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    for name in ("run", "bootstrap.sh"):
        shutil.copy(REPO / "scripts" / name, root / "scripts" / name)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "requirements-lock.txt").write_text("x==1\n")
    if venv:
        fake_venv(root / ".venv" / "bin", pip_fails=pip_fails)
    if installed:
        digest = subprocess.run(
            "cat pyproject.toml requirements-lock.txt | sha256sum | cut -d' ' -f1", shell=True, cwd=root,
            capture_output=True, text=True, check=True,
        ).stdout
        (root / ".venv" / ".caseroom-installed").write_text(digest)
    return root


def run_script(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(root / "scripts" / "run"), *args], cwd=root, capture_output=True,
                          text=True, timeout=30, check=False, env=env)


def test_first_run_says_it_sets_up_the_venv(tmp_path: Path) -> None:
    root = fake_repo(tmp_path, venv=False)
    # the "system" Python: answers the version probe, and `-m venv .venv` makes the stand-in venv
    system = tmp_path / "python3.11"
    system.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -m ] && [ "$2" = venv ]; then\n'
        f"  exec {sys.executable} -c 'import sys; from tests.ship.test_scripts import fake_venv; "
        "from pathlib import Path; fake_venv(Path(sys.argv[1]) / \"bin\")' \"$3\"\n"
        "fi\n"
        "exit 0\n"
    )
    system.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "PYTHON": str(system), "PYTHONPATH": str(REPO)}
    out = run_script(root, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines() == ["Setting up .venv (first run, about a minute)...", ".venv is ready."]
    assert out.stdout == "caseroom run\n"


def test_bootstrap_says_what_it_does_and_hides_pip_noise(tmp_path: Path) -> None:
    root = fake_repo(tmp_path)
    out = run_script(root)
    assert out.returncode == 0, out.stderr
    assert "Installing Caseroom into .venv (about a minute)..." in out.stderr
    assert ".venv is ready." in out.stderr
    assert PIP_NOISE not in out.stdout + out.stderr
    assert "Collecting" not in out.stdout + out.stderr
    assert PIP_NOISE in (root / ".venv" / "pip-install.log").read_text()
    assert out.stdout == "caseroom run\n"
    again = run_script(root)  # installed now: quiet
    assert again.stderr == "" and again.stdout == "caseroom run\n"


def test_bootstrap_shows_pips_output_when_the_install_fails(tmp_path: Path) -> None:
    root = fake_repo(tmp_path, pip_fails=True)
    out = run_script(root)
    assert out.returncode == 1
    assert "Setting up .venv failed" in out.stderr and ".venv/pip-install.log" in out.stderr
    assert PIP_NOISE in out.stderr  # what pip said, so the reason is visible
    assert out.stdout == ""


@pytest.mark.parametrize(
    ("args", "reaches"),
    [
        ((), "caseroom run"),
        (("--port", "3001"), "caseroom run --port 3001"),
        (("--version",), "caseroom --version"),
        (("--help",), "caseroom --help"),
        (("check",), "caseroom check"),
        (("sandbox", "ctl", "info"), "caseroom sandbox ctl info"),
        (("chek",), "caseroom chek"),  # caseroom names the valid commands (below)
    ],
)
def test_run_script_passes_arguments_to_the_right_command(
    tmp_path: Path, args: tuple[str, ...], reaches: str
) -> None:
    out = run_script(fake_repo(tmp_path, installed=True), *args)
    assert out.returncode == 0, out.stderr
    assert out.stdout == reaches + "\n"


def test_cli_version_answers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("caseroom ")


def test_cli_unknown_command_names_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chek"]) == 2
    err = capsys.readouterr().err
    assert "'chek' is not a command" in err
    assert "run, check, sandbox, relay" in err
