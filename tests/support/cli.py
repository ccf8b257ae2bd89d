"""`bizra <verb>` in the test's own process: `bot.surfaces.cli.main(argv)`, its output captured by capsys.

For tests that check only a verb's exit code and output: the same parser, verbs and exit codes as
the `bizra` executable, without a new interpreter per call. A few tests in each folder still run the
real executable as a subprocess (the end-to-end path: process exit status, cwd, environment).

    def test_x(bizra_cli: RunCli) -> None:
        done = bizra_cli("gates", "--json")   # a CompletedProcess: returncode, stdout, stderr
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

RunCli = Callable[..., "subprocess.CompletedProcess[str]"]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    from bot.surfaces.cli import main  # on first use: a broken CLI fails these tests, not the conftest

    argv = [str(arg) for arg in args]
    capsys.readouterr()  # what the test printed before is not the verb's output
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors (2) and --help (0), as the executable exits
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["bizra", *argv], code, out, err)
