"""The console as a person uses it: `python -m bot console` in a subprocess, typed at through stdin.

The console prints `bizra> ` after every answer, so each exchange reads stdout up to the next
prompt (with a deadline) instead of sleeping.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gates.evidence import GATE_NAMES, REPO

PROMPT = "bizra> "


class Console:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._chunks: queue.Queue[str] = queue.Queue()
        self._buffer = ""
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        while True:
            char = self.process.stdout.read(1)
            if not char:
                return
            self._chunks.put(char)

    def until_prompt(self, timeout: float = 15.0) -> str:
        """Everything printed up to the next prompt."""
        deadline = time.monotonic() + timeout
        while PROMPT not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no prompt within {timeout}s; got so far: {self._buffer!r}")
            try:
                self._buffer += self._chunks.get(timeout=remaining)
            except queue.Empty:
                continue
        answer, self._buffer = self._buffer.split(PROMPT, 1)
        return answer

    def ask(self, line: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.until_prompt()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BIZRA_")) and k != "KUBECONFIG"}
    # Run where `make run` runs it: the repository root, no config file, the shipped artifacts.
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "console"], cwd=REPO, env={**env, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
    )
    try:
        yield Console(process)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_gates_help_and_a_bogus_subcommand(console: Console) -> None:
    banner = console.until_prompt()
    assert "bizra console" in banner

    gates = console.ask("/bizra gates")
    assert gates.startswith("Release gates: grade A+ · score 1.000 (9 PASS · 0 FAIL · 0 TBD of 9)")
    lines = gates.splitlines()
    for number, name in enumerate(GATE_NAMES, start=1):
        row = next(line for line in lines if name in line)
        assert row.startswith(f"{number}  ") and "  PASS  " in row, row
    assert "523,793 req/s" in gates and "≥ 400,000 req/s" in gates
    assert "verdict: ready to release" in gates
    assert "asked by console" in gates

    help_text = console.ask("/bizra help")
    for subcommand in ("gates", "help"):
        assert f"/bizra {subcommand}" in help_text

    bogus = console.ask("/bizra frobnicate now")
    assert "`frobnicate` is not a /bizra subcommand" in bogus and "/bizra help" in bogus

    assert console.process.stdin is not None
    console.process.stdin.write("exit\n")
    console.process.stdin.flush()
    assert console.process.wait(timeout=10) == 0
