"""`caseroom sandbox` start-up, arguments and `--state` persistence across restarts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.sandbox.cli import main
from tests.fixtures.sandbox import SandboxControl, start_sandbox, stop_sandbox

pytestmark = pytest.mark.sandbox


@pytest.mark.parametrize(
    "argv",
    [
        ["--cases", "0"],
        ["--webhook-secret", "abc"],
        ["--webhook-url", "https://example.com/hook"],
        ["--webhook-url", "http://127.0.0.1:9/x", "--webhook-secret", "***not base64***"],
        ["--fault", "/me:boom=1"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.strip()


def test_api_key_flag_and_listening_line() -> None:
    sp = start_sandbox(["--cases", "15", "--api-key", "my-own-key"])
    try:
        assert sp.api_key == "my-own-key"
        assert sp.url.startswith("http://127.0.0.1:") and not sp.url.endswith(":0")
        assert httpx.get(f"{sp.url}/me", headers={"XApiKey": "my-own-key"}).status_code == 200
    finally:
        stop_sandbox(sp)


def test_state_survives_restart(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    sp = start_sandbox(["--cases", "25", "--state", str(state)])
    try:
        control = SandboxControl(sp.url)
        case = next(c for c in control.cases(lifecycle="Active") if not c["isTest"])
        headers = {"XApiKey": sp.api_key}
        email = control.info()["users"][0]["email"]
        chat = httpx.post(
            f"{sp.url}/cases/{case['id']}/chats",
            headers=headers,
            json={"message": "remember me", "userEmail": email},
        ).json()
        hook = httpx.post(
            f"{sp.url}/webhooks",
            headers=headers,
            json={"url": "http://127.0.0.1:9/hook", "events": ["case.closed"]},
        ).json()
        control.close()
    finally:
        stop_sandbox(sp)
    assert state.exists()
    sp2 = start_sandbox(["--cases", "25", "--seed", "99", "--state", str(state)])
    try:
        assert sp2.api_key == sp.api_key  # the key lives in the state file
        headers = {"XApiKey": sp2.api_key}
        chats = httpx.get(f"{sp2.url}/cases/{case['id']}/chats", headers=headers).json()
        assert chats[-1]["id"] == chat["id"] and chats[-1]["message"] == "remember me"
        assert [w["id"] for w in httpx.get(f"{sp2.url}/webhooks", headers=headers).json()] == [hook["id"]]
    finally:
        stop_sandbox(sp2)


def test_corrupt_state_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "bad.json"
    state.write_text("{not json")
    assert main(["--state", str(state), "--port", "0"]) == 2
    assert "cannot load sandbox state" in capsys.readouterr().err


def test_rate_and_fault_flags() -> None:
    sp = start_sandbox(["--cases", "15", "--rate-per-minute", "3", "--fault", "GET /users:error=1"])
    try:
        with httpx.Client(base_url=sp.url, headers={"XApiKey": sp.api_key}) as api:
            assert api.get("/users").status_code == 500
            assert api.get("/me").status_code == 200
            assert api.get("/me").status_code == 200
            r = api.get("/me")
            assert r.status_code == 429 and r.json()["error"] == "rate_limit_exceeded"
        # a reset goes back to the limits and faults given on the command line
        httpx.delete(f"{sp.url}/_sandbox/faults").raise_for_status()
        httpx.post(f"{sp.url}/_sandbox/reset").raise_for_status()
        assert httpx.get(f"{sp.url}/_sandbox/rate-limits").json()["perMinute"] == 3
        faults = httpx.get(f"{sp.url}/_sandbox/faults").json()
        got = [(f["method"], f["path"], f["errorRate"], f["hits"]) for f in faults]
        assert got == [("GET", "/users", 1.0, 0)]
    finally:
        stop_sandbox(sp)


async def test_background_save_writes_a_copy_and_keeps_later_changes_dirty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The autosave copies the state on the event loop and writes it in a thread: a change made
    while the file is written stays dirty (saved next time); a failed write stays dirty too."""
    import asyncio
    import json
    import threading

    import bot.sandbox.app as app_mod
    from bot.sandbox.state import write_snapshot

    path = tmp_path / "state.json"
    sb = app_mod.Sandbox(seed=5, n_cases=30, state_file=path)
    sb.state.dirty = True
    n_cases = len(sb.state.cases)
    started, release = threading.Event(), threading.Event()

    def held_write(p: Path, snapshot: dict[str, object]) -> None:
        started.set()
        release.wait(5)
        write_snapshot(p, snapshot)

    monkeypatch.setattr(app_mod, "write_snapshot", held_write)
    task = asyncio.create_task(sb.save_in_background())
    assert await asyncio.to_thread(started.wait, 5)
    assert not sb.state.dirty  # the copy is taken
    sb.mark_dirty()  # a change lands while the thread writes
    release.set()
    await task
    assert sb.state.dirty
    assert len(json.loads(path.read_text())["cases"]) == n_cases
    # an unwritable target: the error surfaces and the state stays dirty
    monkeypatch.setattr(app_mod, "write_snapshot", write_snapshot)
    sb.state.dirty = False
    sb.state_file = tmp_path / "a-directory"
    sb.state_file.mkdir()
    with pytest.raises(OSError):
        await sb.save_in_background()
    assert sb.state.dirty
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".sandbox-state-")]  # no debris
