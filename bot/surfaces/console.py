"""The console: type `/bizra …` in a terminal and read what the channel would see, as text.

Like Hubot's shell adapter, it drives the same registry and renderers as Slack with no
workspace and no cluster needed for `gates` and `help`.
"""

from __future__ import annotations

import getpass
import sys
from typing import TextIO

from bot.core.invocation import Invocation, UsageError, parse
from bot.core.runtime import Runtime
from bot.core.terminal import terminal_text

BANNER = "bizra console — type `/bizra help` for commands, `exit` to leave."
PROMPT = "bizra> "


def run_line(line: str, runtime: Runtime, *, user_id: str) -> str:
    try:
        name, args = parse(line)
    except UsageError as exc:
        return str(exc)
    invocation = Invocation(text=line, subcommand=name, args=args, user_id=user_id, user_name=user_id)
    reply = runtime.dispatch(invocation)
    text = runtime.registry.renderers.text
    parts = [text(reply.result), *(text(extra) for extra in reply.followups)]
    return terminal_text("\n\n".join(parts))

def run_console(runtime: Runtime, *, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    runtime.surface = "console"
    user_id = _console_user()
    print(BANNER, file=stdout, flush=True)
    while True:
        # The prompt is printed even when stdin is a pipe: it marks the end of each answer.
        stdout.write(PROMPT)
        stdout.flush()
        line = stdin.readline()
        if not line:
            return 0
        line = line.strip()
        if not line:
            continue
        if line in ("exit", "quit", "/exit", "/quit"):
            return 0
        print(run_line(line, runtime, user_id=user_id), file=stdout, flush=True)
        print("", file=stdout, flush=True)


def _console_user() -> str:
    try:
        return f"console:{getpass.getuser()}"
    except Exception:
        return "console"
