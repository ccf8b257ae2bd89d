"""Log lines that cannot be forged, flooded or made to leak a secret.

Every record becomes exactly one line, as text (`time LEVEL logger: message`) or as one JSON object
(`--log-format json`). On the way, for every record of every logger (the bot's, Bolt's, slack_sdk's,
APScheduler's, …):

- each argument is redacted and then cut to `MAX_VALUE` characters, the whole message to
  `MAX_MESSAGE` (a traceback to `MAX_TRACEBACK`), saying how much was left out;
- control characters and line breaks (CR, LF, U+2028, …) are written as escapes (`\\n`, `\\x1b`), so
  text someone typed into Slack, or an unsigned request's body, cannot start a line of its own;
- known secrets are replaced by `***`: the values of the environment variables registered with
  `SECRETS.add_env` (the SLACK_* tokens, and the PagerDuty and Prometheus variables the config
  names), the password of any `scheme://user:password@host` URL, and the token path of a Slack
  `response_url` (`https://hooks.slack.com/commands/***`);
- what Bolt and slack_sdk would write of a request's or an envelope's body (`… body: <the body>`,
  `Unhandled request ({…})`) is replaced by its length: a body is never logged.

`configure` installs this on the root logger for the CLI (`bizra …`); nothing else needs to know.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")

MAX_VALUE = 300  # characters of one argument (a user's text, a URL, an exception's message)
MAX_MESSAGE = 2000  # characters of the whole message
MAX_TRACEBACK = 8000  # characters of a traceback
REDACTED = "***"
SECRET_ENV = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")
_MIN_SECRET = 4  # shorter values would redact ordinary words

# C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# The scheme's length is bounded (RFC 3986 schemes are short): unbounded, a long run of letters (an unsigned
# 1 MiB body) was scanned again from each word boundary, quadratic time holding the interpreter lock. The
# rest only starts at a `://`, and each part stops at the next `/`, so the whole scan stays linear.
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]{0,31}://[^:/@\s]*):(?P<password>[^@/\s]+)@")
# A command's response_url (and incoming webhooks) carry a token in their path: anyone holding one may answer.
_SLACK_HOOK = re.compile(r"(?P<head>https://hooks\.slack(?:-gov)?\.com/[a-z]+/)[^\s'\"<>)]+")
# Libraries that log request bodies and envelopes: from the key that introduces one, the rest goes.
_LIBRARIES = ("slack_bolt", "slack_sdk")
_BODY = re.compile(r"\b(?:body|json_body|body_params|payload|envelope|message)\s*[:=]\s*", re.IGNORECASE)
_UNHANDLED = "Unhandled request ("


def escape(text: str) -> str:
    """Control characters and line breaks as visible escapes: the text stays on one line."""
    return _CONTROL.sub(_escaped, text)


def _escaped(found: re.Match[str]) -> str:
    char = found.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[{len(text) - limit} more characters]"


def redact_url(url: str) -> str:
    """`https://user:password@host/…` → `https://user:***@host/…`, a Slack response_url's path → `***`."""
    url = _USERINFO.sub(lambda found: f"{found.group('head')}:{REDACTED}@", url)
    return _SLACK_HOOK.sub(lambda found: f"{found.group('head')}{REDACTED}", url)


class Secrets:
    """The secret values no log line may show; filled from the environment at start-up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: tuple[str, ...] = ()

    def add(self, *values: str | None) -> None:
        with self._lock:
            known = set(self._values)
            known.update(value for value in values if value and len(value) >= _MIN_SECRET)
            self._values = tuple(sorted(known, key=len, reverse=True))  # longest first: no half-redacted overlap

    def add_env(self, names: Iterable[str | None]) -> None:
        """Register the values of these environment variables (unset or empty ones are skipped)."""
        self.add(*(os.environ.get(name) for name in names if name))

    def clear(self) -> None:
        with self._lock:
            self._values = ()

    def redact(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return redact_url(text)


SECRETS = Secrets()


def _safe_arg(value: Any, limit: int) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value  # keeps %d and %.3f working; a number holds no line break and no secret
    try:
        text = value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)
    except Exception as exc:  # a broken __str__ must not lose the record
        text = f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
    return truncate(SECRETS.redact(text), limit)


def _drop_bodies(name: str, message: str) -> str:
    if not name.startswith(_LIBRARIES):
        return message
    if message.startswith(_UNHANDLED):
        return f"Unhandled request (body of {len(message)} characters not logged)"
    found = _BODY.search(message)
    if found is None:
        return message
    return f"{message[:found.end()]}<{len(message) - found.end()} characters not logged>"


def safe_message(record: logging.LogRecord) -> str:
    """The record's message, arguments included: bodies dropped, secrets redacted, cut, on one line."""
    args: Any = record.args
    # A library's body is dropped whole below, so its arguments are not cut first (the length shown is the body's).
    limit = MAX_MESSAGE * 1000 if record.name.startswith(_LIBRARIES) else MAX_VALUE
    if isinstance(args, Mapping):
        args = {key: _safe_arg(value, limit) for key, value in args.items()}
    elif isinstance(args, tuple):
        args = tuple(_safe_arg(value, limit) for value in args)
    try:
        message = str(record.msg) % args if args else str(record.msg)
    except Exception:  # a format string that does not match its arguments: show both, never raise
        message = f"{record.msg!s} {args!r}"
    # The body goes first: nothing is spent redacting what is not logged.
    message = SECRETS.redact(_drop_bodies(record.name, message))
    return escape(truncate(message, MAX_MESSAGE))


class SafeFormatter(logging.Formatter):
    """`2026-12-01 22:41:06,081 INFO bot.audit: …`, one line per record (a traceback follows as ` | …`)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record)} {record.levelname} {escape(record.name)}: {safe_message(record)}"
        problem = self.problem(record)
        return f"{line} | {problem}" if problem else line

    def problem(self, record: logging.LogRecord) -> str:
        """The record's traceback and stack, redacted, cut and escaped onto the same line."""
        parts = []
        if record.exc_info:
            parts.append(self.formatException(record.exc_info))
        elif record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        if not parts:
            return ""
        return escape(truncate(SECRETS.redact("\n".join(parts)), MAX_TRACEBACK))


class JsonFormatter(SafeFormatter):
    """One JSON object per line: `time` (UTC, ISO 8601), `level`, `logger`, `message`, and `error`."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": escape(record.name),
            "message": safe_message(record),
        }
        problem = self.problem(record)
        if problem:
            entry["error"] = problem
        return json.dumps(entry, ensure_ascii=False)


def formatter(kind: LogFormat) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else SafeFormatter()


class _Handler(logging.StreamHandler[TextIO]):
    """The handler `configure` installs (told apart from handlers others installed)."""


def configure(*, level: str, kind: LogFormat = "text", stream: TextIO | None = None) -> logging.Handler | None:
    """Log to stderr through the safe formatter, and register the SLACK_* secrets for redaction.

    Like `logging.basicConfig`, it leaves a root logger alone that someone else gave handlers (pytest's
    capture, an embedding program); a handler it installed before is replaced, so calling it again is safe.
    """
    SECRETS.add_env(SECRET_ENV)
    if not isinstance(logging.getLevelName(level.upper()), int):
        raise ValueError(f"unknown log level {level!r}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _Handler):
            root.removeHandler(handler)
    if root.handlers:
        return None
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(kind))
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
