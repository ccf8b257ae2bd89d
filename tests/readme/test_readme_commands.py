"""Every `bizra …` line the README shows is accepted; those needing no cluster or Slack run (issue 12, finding 10).

Lines come from the README's code blocks and its inline code, read when the test runs, so the README
stays true as it changes: each (with and without its `[optional]` parts) must parse with the real
parser; the `gates` and `attest` lines run as real `bizra` processes, in README order, in a scratch copy of
the repository's artifacts and keys; `bizra serve --config bizra.yaml` starts and stops cleanly.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.surfaces.cli import build_parser
from tests.logs.serving import BOT_TOKEN, REPO, SIGNING_SECRET, free_port, serve_env, serving

README = REPO / "README.md"
_FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`((?:\.venv/bin/)?bizra [^`]+)`")
_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def _command(line: str) -> list[str] | None:
    """`[bizra, verb, …]` when the shell line runs bizra (env assignments, `.venv/bin/`, comments, redirects go)."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    while words and _ASSIGNMENT.match(words[0]):
        words.pop(0)
    if not words or words[0].removeprefix(".venv/bin/") != "bizra" or words[1:2] == ["…"]:
        return None
    for stop in (">", ">>", "|", "&&", ";"):
        if stop in words:
            words = words[:words.index(stop)]
    return ["bizra", *words[1:]]


def readme_commands() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    lines = [line for block in _FENCE.findall(text) for line in block.splitlines()]
    lines += _INLINE.findall(_FENCE.sub("", text))
    return [command for command in map(_command, lines) if command is not None]


def variants(command: list[str]) -> list[list[str]]:
    """The command with and without each `[optional part]` (`[--artifacts DIR]` → both)."""
    start = next((i for i, word in enumerate(command) if word.startswith("[")), None)
    if start is None:
        return [command]
    end = next(i for i in range(start, len(command)) if command[i].endswith("]"))
    inner = [word.strip("[]") for word in command[start:end + 1]]
    rest = variants(command[end + 1:])
    return [command[:start] + chosen + tail for chosen in (inner, []) for tail in rest]


def test_the_readme_shows_the_verbs_it_documents() -> None:
    verbs = {command[1] for command in readme_commands()}
    assert {"serve", "gates", "attest", "verify"} <= verbs, verbs


@pytest.mark.parametrize("command", [" ".join(c) for c in readme_commands() for c in variants(c)])
def test_every_bizra_line_in_the_readme_parses(command: str) -> None:
    try:
        build_parser().parse_args(shlex.split(command)[1:])
    except SystemExit as exc:
        if exc.code == 0 and "--help" in command:
            return
        pytest.fail(f"the README shows `{command}`, which bizra refuses (exit {exc.code})")


def _workspace(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A scratch copy of what the README's lines read and write, and the README's placeholders mapped into it."""
    work = tmp_path / "work"
    shutil.copytree(REPO / "artifacts", work / "artifacts")
    shutil.copytree(REPO / "ops" / "keys", work / "ops" / "keys")
    shutil.copytree(REPO / "artifacts", work / "dir")
    (work / "secure").mkdir()
    places = {"DIR": str(work / "dir"), "/secure/release.pem": str(work / "secure" / "release.pem"),
              "bizra.yaml": str(work / "bizra.yaml")}
    return work, places


def _run(command: list[str], work: Path, places: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [places.get(word, word) for word in command[1:]]
    env = serve_env(free_port(), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "bot", *argv], cwd=work, env=env, capture_output=True, text=True,
                          timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    if "--json" in command:
        json.loads(done.stdout)
    return done


def test_the_readme_s_gates_lines_run(tmp_path: Path) -> None:
    shown = [variant for command in readme_commands() if command[1] == "gates" for variant in variants(command)]
    assert shown
    for number, command in enumerate(shown):
        done = _run(command, *_workspace(tmp_path / str(number)))  # the shipped evidence, as `make run` has it
        assert done.returncode == 0, f"`{' '.join(command)}` exited {done.returncode}:\n{done.stdout}{done.stderr}"


def test_the_readme_s_attest_lines_run_in_its_order(tmp_path: Path) -> None:
    work, places = _workspace(tmp_path)
    shown = [variant for command in readme_commands() if command[1] == "attest" for variant in variants(command)]
    assert [command[2] for command in shown][:1] == ["keygen"] and "sign" in [command[2] for command in shown]
    for command in shown:
        done = _run(command, work, places)
        what = f"`{' '.join(command)}` exited {done.returncode}:\n{done.stdout}{done.stderr}"
        if command[2] == "verify":
            # A new key has signed; until it is listed under gates.trusted_keys, verify says so (README: "Then list …").
            assert done.returncode == 1 and "untrusted key" in done.stdout + done.stderr, what
        else:
            assert done.returncode == 0, what


def test_serve_runs_as_the_readme_writes_it(tmp_path: Path) -> None:
    [shown] = [c for c in readme_commands() if c[1] == "serve" and "--config" in c]
    work, places = _workspace(tmp_path)
    Path(places["bizra.yaml"]).write_text(yaml.safe_dump({
        "slack": {"release_channel": "C0RELEASE"},
        "slo": {"enabled": False},
        "store": {"path": str(work / "state.sqlite")},
    }), encoding="utf-8")
    port = free_port()
    env = serve_env(port, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, PYTHONPATH=str(REPO),
                    SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/")
    argv = [places.get(word, word) for word in shown[1:]]
    with serving(argv, env, tmp_path / "serve.log") as served:
        assert served.stop() == 0, served.output()
    assert f"HTTP mode on 127.0.0.1:{port}" in served.output()
