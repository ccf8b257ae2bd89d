"""The console: type `/bizra …` in a terminal and read what the channel would see, as text.

Like Hubot's shell adapter, it drives the same registry and renderers as Slack with no
workspace and no cluster needed for `gates` and `help`.
"""

from __future__ import annotations

import contextlib
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.core.invocation import Invocation, UsageError, parse
from bot.core.runtime import Runtime
from bot.core.terminal import terminal_text

BANNER = "bizra console — type `/bizra help` for commands, `exit` to leave."
PROMPT = "bizra> "
HISTORY_FILE = Path(".bizra/console_history")  # under the working directory, beside the charts
HISTORY_LENGTH = 1000


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

def run_console(runtime: Runtime, *, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout,
                history_file: Path = HISTORY_FILE) -> int:
    """The REPL. On a terminal, lines are read with readline (editing, ↑/↓ history kept in `history_file`)."""
    runtime.surface = "console"
    user_id = _console_user()
    print(BANNER, file=stdout, flush=True)
    interactive = stdin is sys.stdin and stdout is sys.stdout and _isatty(stdin) and _isatty(stdout)
    read = _readline_reader(history_file) if interactive else None
    try:
        while True:
            if read is not None:
                try:
                    line = read(PROMPT)
                except EOFError:
                    print("", file=stdout, flush=True)
                    return 0
                except KeyboardInterrupt:  # Ctrl-C drops the line being typed, as a shell does
                    print("", file=stdout, flush=True)
                    continue
            else:
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
    finally:
        if read is not None:
            _save_history(history_file)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _readline_reader(history_file: Path) -> Callable[[str], str] | None:
    """`input` with GNU readline/libedit line editing and history loaded from `history_file`."""
    try:
        import readline  # only on a terminal; absent on some platforms
    except ImportError:
        return None
    readline.set_history_length(HISTORY_LENGTH)
    with contextlib.suppress(OSError):  # no history yet, or an unreadable one: start empty
        readline.read_history_file(history_file)
    return input


def _save_history(history_file: Path) -> None:
    import readline  # loaded already by _readline_reader

    try:
        history_file.parent.mkdir(parents=True, exist_ok=True)
        readline.write_history_file(history_file)
    except OSError:
        pass  # an unwritable working directory costs the history, not the session


def _console_user() -> str:
    try:
        return f"console:{getpass.getuser()}"
    except Exception:
        return "console"
