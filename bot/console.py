"""The console: type `/bizra …` in a terminal and read what the channel would see, as text.

Like Hubot's shell adapter, it drives the same registry and renderers as Slack with no
workspace and no cluster needed for `gates` and `help`.
"""

from __future__ import annotations

import getpass
import sys
from typing import TextIO

from bot.render import load_renderers, to_text
from bot.render.terminal import terminal_text
from bot.runtime import Runtime
from bot.subcommands import Invocation, UsageError, dispatch, parse

BANNER = "bizra console — type `/bizra help` for commands, `exit` to leave."
PROMPT = "bizra> "


def run_line(line: str, runtime: Runtime, *, user_id: str) -> str:
    try:
        name, args = parse(line)
    except UsageError as exc:
        return str(exc)
    invocation = Invocation(text=line, subcommand=name, args=args, user_id=user_id, user_name=user_id)
    reply = dispatch(invocation, runtime)
    parts = [to_text(reply.result), *(to_text(extra) for extra in reply.followups)]
    return terminal_text("\n\n".join(parts))



def run_console(runtime: Runtime, *, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    load_renderers()
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
