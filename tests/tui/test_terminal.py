"""`govern tui` in a real terminal: tmux runs it, sends keys and reads the screen."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from govern.services import audit, catalogue
from tests.conftest import key_dir, require_tool, run_cli
from tests.tui.conftest import ConsoleCatalogue, protect_key

GOVERN = [sys.executable, "-m", "govern"]


class Terminal:
    """One tmux server of our own (its own socket), with one window running a command."""

    def __init__(self, directory: Path) -> None:
        self.socket = f"govern-test-{uuid.uuid4().hex[:8]}"
        self.directory = directory

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self, env: dict[str, str], *args: str, size: tuple[int, int] = (100, 30)) -> None:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        command = " ".join(shlex.quote(part) for part in [*GOVERN, *args])
        # After the app exits, its exit code stays on screen for the test to read.
        where = shlex.quote(str(self.directory))
        script = f"cd {where} && env {exports} {command}; echo EXIT=$?; sleep 30"
        width, height = size
        self.tmux("new-session", "-d", "-x", str(width), "-y", str(height), script)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", key)
            time.sleep(0.2)

    def type(self, text: str) -> None:
        """Send ``text`` literally, as typed."""
        self.tmux("send-keys", "-l", text)
        time.sleep(0.2)

    def wait_for(self, text: str, timeout: float = 45) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.25)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{screen}")

    def stop(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    require_tool("tmux")  # a cross-check of the Pilot tests in a real terminal
    made = Terminal(tmp_path)
    yield made
    made.stop()


def _env(console: ConsoleCatalogue, user: str) -> dict[str, str]:
    return {
        "GOVERN_DATABASE_URL": console.url,
        "GOVERN_HOME": str(console.home),
        "GOVERN_USER": user,
        # The console's people act with their own enrolled keys (the fixture put them there).
        "GOVERN_KEY_DIR": str(key_dir(user)),
        "TERM": "xterm-256color",
        "PATH": os.environ.get("PATH", ""),
    }


def test_govern_tui_in_tmux(console: ConsoleCatalogue, terminal: Terminal) -> None:
    terminal.start(_env(console, "carol"), "tui")
    screen = terminal.wait_for("credit-risk")
    assert "carol (approver)" in terminal.wait_for("(approver)")
    assert "1.1.0" in screen and "1.0.0" in screen

    terminal.keys("3")  # the audit log, then verify its chain
    terminal.wait_for("Verify chain")
    terminal.keys("v")
    screen = terminal.wait_for("Chain intact")
    total = audit.count_events(console.ctx("admin"))
    assert f"{total:,} events" in screen

    terminal.keys("1", "Enter")  # the newest version, its tabs
    screen = terminal.wait_for("submitted ·")  # the banner, once the version has loaded
    assert "credit-risk@1.1.0" in screen and "Evaluation" in screen
    terminal.wait_for("A Approve")  # the footer teaches the keys this state allows

    terminal.keys("A")  # approve with a comment, typed into the dialog
    terminal.wait_for("Comment")
    terminal.type("approved from a real terminal")
    terminal.keys("Enter")
    screen = terminal.wait_for("Decision recorded")
    detail = catalogue.show_version(console.ctx("admin"), "credit-risk@1.1.0")
    assert (detail.decisions[-1].actor, detail.decisions[-1].comment) == (
        "carol",
        "approved from a real terminal",
    )
    terminal.keys("Escape", "C-q")
    assert "EXIT=0" in terminal.wait_for("EXIT=")


def test_the_passphrase_is_asked_once_and_never_shown(
    console: ConsoleCatalogue, terminal: Terminal
) -> None:
    secret = "tmux typed this passphrase"
    protect_key(console, "carol", secret.encode())
    terminal.start(_env(console, "carol"), "tui")
    terminal.wait_for("(approver)")
    terminal.wait_for("credit-risk")
    terminal.keys("Enter")  # the newest version
    terminal.wait_for("A Approve")
    terminal.keys("A")
    terminal.wait_for("Comment")
    terminal.type("signed in a real terminal")
    terminal.keys("Enter")
    terminal.wait_for("Unlock your signing key")
    terminal.type(secret)
    screen = terminal.screen()
    assert secret not in screen and "passphrase" in screen  # typed blind
    terminal.keys("Enter")
    terminal.wait_for("Decision recorded")
    detail = catalogue.show_version(console.ctx("admin"), "credit-risk@1.1.0")
    assert (detail.decisions[-1].actor, detail.decisions[-1].comment) == (
        "carol",
        "signed in a real terminal",
    )

    terminal.keys("k")  # a second signed action: not asked again
    screen = terminal.wait_for("Policy run finished")
    assert "Unlock your signing key" not in screen
    assert audit.audit_log(console.ctx("admin"), action="policy.check")[0].actor == "carol"
    terminal.keys("Escape", "C-q")
    assert "EXIT=0" in terminal.wait_for("EXIT=")


def test_bare_govern_opens_the_console_in_a_terminal(
    console: ConsoleCatalogue, terminal: Terminal
) -> None:
    terminal.start(_env(console, "dave"), size=(80, 24))
    terminal.wait_for("(compliance)")
    screen = terminal.wait_for("2026-11-20")  # the rows, once loaded
    header = next(line for line in screen.splitlines() if "Model" in line)
    for title in ("Version", "State", "Tier", "Owner", "Policy", "Evaluated", "Due"):
        assert title in header, f"{title} missing at 80 columns: {header!r}"
    terminal.keys("C-q")
    assert "EXIT=0" in terminal.wait_for("EXIT=")


def test_a_missing_catalogue_is_one_line_not_a_screen(
    tmp_path: Path, terminal: Terminal, console: ConsoleCatalogue
) -> None:
    env = _env(console, "carol")
    env["GOVERN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'nowhere.db'}"
    terminal.start(env, "tui")
    screen = "".join(terminal.wait_for("EXIT=").splitlines())  # the path may wrap
    assert "EXIT=2" in screen
    assert "error:" in screen and "nowhere.db" in screen
    assert not (tmp_path / "nowhere.db").exists()


def test_tui_without_a_terminal_says_so(console: ConsoleCatalogue) -> None:
    done = run_cli("tui", db=console.url, user="carol")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: govern tui needs an interactive terminal; use the other commands in scripts"
    )
    assert done.stdout == ""
