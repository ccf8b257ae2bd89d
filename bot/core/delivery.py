"""Posting to the release channel outside a slash command: scheduled status, alerts, progress threads.

`runtime.poster` is the outbox's poster (`bot/core/outbox.py`, sending through the Slack transport
of `bot/adapters/slack.py`) in `bizra serve` and the text poster below on the console, so commands
that post (an alert, a rollback's progress thread) behave the same on both surfaces.

A `Poster` never blocks on Slack for long and never decides about retries itself: the Web API
client answers within its timeout (10 s) or raises, and the outbox keeps what was not delivered and
sends it later — looking first for a post whose answer was lost, so it is not posted twice
(docs/robustness.md, *Outbox*). A post that could not be sent yet returns a placeholder, not a ts.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Protocol, TextIO, runtime_checkable

from pydantic import BaseModel

from bot.core.rendering import Renderers
from bot.core.terminal import terminal_text

Postable = BaseModel | str

# The console keeps the newest this many chart files (PNG) in its charts folder and deletes older ones
# as it writes a new one: a count, not an age, so the folder is bounded however many alerts fire in a
# burst and pruning needs no clock; 200 charts are ~6-14 MB (30-70 KB each). Constants, not settings:
# this is the console's scratch folder (Slack keeps its own files), nothing a deployment tunes.
KEEP_CHARTS = 200


class Poster(Protocol):
    def post(self, result: Postable, *, channel: str | None = None, thread_ts: str | None = None) -> str | None:
        """Post a message; returns its `ts` (the thread to reply in), or None where there is none."""
        ...

    def update(self, ts: str, result: Postable, *, channel: str | None = None) -> None: ...

    def upload_png(self, png: bytes, *, filename: str, title: str, channel: str | None = None,
                   thread_ts: str | None = None) -> str | None:
        """Share a chart; returns where it went (a file ID, or a path on the console)."""
        ...


@runtime_checkable
class FileUploader(Protocol):
    """A poster that shares any file (an evidence archive), not only charts: Slack (`files_upload_v2`)
    and the console. A poster without it (the outbox) is given the bytes through `upload_png`, which
    uploads whatever bytes it gets under the file name it is given."""

    def upload_file(self, data: bytes, *, filename: str, title: str, channel: str | None = None,
                    thread_ts: str | None = None) -> str | None: ...


def upload_file(poster: Poster, data: bytes, *, filename: str, title: str, channel: str | None = None,
                thread_ts: str | None = None) -> str | None:
    """Share a file through `poster`: its own `upload_file` when it has one, else its `upload_png`."""
    if isinstance(poster, FileUploader):
        return poster.upload_file(data, filename=filename, title=title, channel=channel, thread_ts=thread_ts)
    return poster.upload_png(data, filename=filename, title=title, channel=channel, thread_ts=thread_ts)


class ConsolePoster:
    """Writes what the channel would show to the terminal; charts go to files it names."""

    def __init__(self, renderers: Renderers, stream: TextIO | None = None, *,
                 charts_dir: Path = Path(".bizra/charts")) -> None:
        self._renderers = renderers
        self._stream = stream or sys.stdout
        self._charts = charts_dir
        self._count = 0
        self._lock = threading.Lock()

    def _next_ts(self) -> str:
        with self._lock:
            self._count += 1
            return f"console.{self._count:06d}"

    def post(self, result: Postable, *, channel: str | None = None, thread_ts: str | None = None) -> str | None:
        prefix = "  ↳ " if thread_ts else ""
        body = terminal_text(self._renderers.text(result))
        print("\n".join(prefix + line for line in body.splitlines()), file=self._stream, flush=True)
        return self._next_ts()

    def update(self, ts: str, result: Postable, *, channel: str | None = None) -> None:
        print(f"(updated {ts})\n{terminal_text(self._renderers.text(result))}", file=self._stream, flush=True)

    def upload_png(self, png: bytes, *, filename: str, title: str, channel: str | None = None,
                   thread_ts: str | None = None) -> str | None:
        self._charts.mkdir(parents=True, exist_ok=True)
        path = self._charts / filename
        path.write_bytes(png)
        prune_charts(self._charts, keep=KEEP_CHARTS, protect=path)
        print(f"{title}: chart written to {path}", file=self._stream, flush=True)
        return str(path)

    def upload_file(self, data: bytes, *, filename: str, title: str, channel: str | None = None,
                    thread_ts: str | None = None) -> str | None:
        self._charts.mkdir(parents=True, exist_ok=True)
        path = self._charts / filename
        path.write_bytes(data)
        print(f"{title}: written to {path}", file=self._stream, flush=True)
        return str(path)


def prune_charts(directory: Path, *, keep: int, protect: Path | None = None) -> list[Path]:
    """Delete all but the `keep` newest `*.png` files in `directory` (by modification time, then name);
    `protect` (the chart just written) is never deleted and counts as one of the newest. Other files
    (an evidence archive written beside the charts) are left alone. Best effort: a file gone or locked
    meanwhile is skipped, so pruning never fails an upload. Returns what was deleted."""
    entries: list[tuple[int, str, Path]] = []
    try:
        candidates = list(directory.glob("*.png"))
    except OSError:
        return []
    for path in candidates:
        try:
            if path.is_file():
                entries.append((path.stat().st_mtime_ns, path.name, path))
        except OSError:
            continue
    protected = protect is not None and any(path == protect for _, _, path in entries)
    others = sorted((e for e in entries if e[2] != protect), reverse=True)
    deleted: list[Path] = []
    for _, _, path in others[max(keep - protected, 0):]:
        try:
            path.unlink()
            deleted.append(path)
        except OSError:
            continue
    return deleted
