"""The console on a real terminal (a pty): readline editing and history, and no Slack markup on screen.

`python -m bot console` runs in a pseudo-terminal in a scratch directory, keys are typed as a
person types them (arrows as the escape sequences a terminal sends), and each exchange reads the
screen up to the next prompt with a deadline instead of sleeping.
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.terminal import terminal_text
from tests.gates.evidence import REPO

PROMPT = "bizra> "
UP = "\x1b[A"
RIGHT = "\x1b[C"
CTRL_A = "\x01"
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


class Terminal:
    def __init__(self, cwd: Path) -> None:
        self.master, slave = pty.openpty()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BIZRA_")) and k != "KUBECONFIG"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "console"], cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
            env={**env, "PYTHONPATH": str(REPO), "TERM": "xterm", "INPUTRC": os.devnull}, close_fds=True,
        )
        os.close(slave)
        self._screen = ""

    def until_prompt(self, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while PROMPT not in self._screen:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no prompt within {timeout}s; screen so far: {self._screen!r}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the console exited and the pty closed
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"console ended; screen: {self._screen!r}")
                self._screen += _ESCAPES.sub("", chunk.decode("utf-8", errors="replace"))
        answer, self._screen = self._screen.split(PROMPT, 1)
        return answer

    def type(self, keys: str) -> str:
        os.write(self.master, keys.encode())
        return self.until_prompt()

    def close(self) -> int:
        os.write(self.master, b"exit\r")
        code = self.process.wait(timeout=20)
        os.close(self.master)
        return code


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(tmp_path)
    try:
        yield term
    finally:
        if term.process.poll() is None:
            term.process.kill()
            term.process.wait(timeout=10)


def test_line_editing_and_history_survive_the_session(terminal: Terminal, tmp_path: Path) -> None:
    assert "bizra console" in terminal.until_prompt()

    # "/bizra elp", back to the start of the line, 7 steps right, insert "h": "/bizra help".
    edited = terminal.type("/bizra elp" + CTRL_A + RIGHT * 7 + "h\r")
    assert "bizra — release ChatOps for NODE0" in edited

    typo = terminal.type("/bizra gatse\r")
    assert "Did you mean `gates`?" in typo

    recalled = terminal.type(UP + UP + "\r")  # two back: the edited help line
    assert "bizra — release ChatOps for NODE0" in recalled
    assert terminal.close() == 0

    history = (tmp_path / ".bizra" / "console_history").read_text(encoding="utf-8").splitlines()
    assert [line for line in history if line.startswith("/bizra")] == ["/bizra help", "/bizra gatse", "/bizra help"]

    again = Terminal(tmp_path)  # a new session starts with the old history
    try:
        again.until_prompt()
        assert "Did you mean `gates`?" in again.type(UP * 3 + "\r")  # exit, help, gatse
        assert again.close() == 0
    finally:
        if again.process.poll() is None:
            again.process.kill()


def test_no_slack_markup_on_the_terminal(terminal: Terminal) -> None:
    terminal.until_prompt()
    ticked = terminal.type("/bizra signoff tick sre.2 runbook read\r")
    assert "ticked by @" in ticked
    assert "<@" not in ticked and "console:" not in ticked
    assert terminal.close() == 0


def test_console_on_plain_streams_writes_no_history(tmp_path: Path) -> None:
    """Piped input (CI, a here-document) is read line by line, with no readline and no history file."""
    from bot.assembly import build_runtime
    from bot.core.config import BizraConfig, Secrets
    from bot.surfaces.console import run_console

    out = io.StringIO()
    runtime = build_runtime(BizraConfig(), Secrets(), surface="console")
    history = tmp_path / "history"
    code = run_console(runtime, stdin=io.StringIO("/bizra hlep\n"), stdout=out, history_file=history)
    assert code == 0
    assert "Did you mean `help`?" in out.getvalue()
    assert not history.exists()


@pytest.mark.parametrize(
    ("slack", "terminal_shows"),
    [
        ("asked by <@U0RELEASE>", "asked by @U0RELEASE"),
        ("ticked by <@console:root>", "ticked by @root"),
        ("see <https://grafana.example/d/node0|the dashboard>", "see the dashboard (https://grafana.example/d/node0)"),
        ("<https://example.com/a?b=1&amp;c=2>", "https://example.com/a?b=1&c=2"),
        ("`&lt;image&gt;` &amp; more :x:", "`<image>` & more ❌"),
        ("cc <!here> in <#C0REL|release> and <!subteam^S0OPS|@ops>", "cc @here in #release and @ops"),
        ("canary start <image@sha256:digest> / confirm <id>", "canary start <image@sha256:digest> / confirm <id>"),
    ],
)
def test_terminal_text_reads_slack_markup_as_a_person_would(slack: str, terminal_shows: str) -> None:
    assert terminal_text(slack) == terminal_shows


def test_dates_show_in_local_time() -> None:
    shown = terminal_text("since <!date^0^{date_short_pretty} {time}|1970-01-01 00:00 UTC>")
    local = time.strftime("%Y-%m-%d %H:%M", time.localtime(0))
    assert shown.startswith(f"since {local}") and "<!date" not in shown
