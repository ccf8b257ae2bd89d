"""Text for a terminal: Slack's emoji shortcodes become the characters they stand for, and Slack's
markup (mentions, dates, links, escapes) becomes what a person would read in the Slack client."""

from __future__ import annotations

import re
from datetime import datetime

# Slack renders these shortcodes; a terminal shows them as the characters they stand for.
EMOJI = {
    ":warning:": "⚠️", ":x:": "❌", ":white_check_mark:": "✅", ":no_entry:": "⛔", ":rewind:": "⏪",
    ":hourglass_flowing_sand:": "⏳", ":zzz:": "💤", ":white_circle:": "⚪", ":rotating_light:": "🚨",
    ":rocket:": "🚀", ":red_circle:": "🔴", ":leftwards_arrow_with_hook:": "↩️", ":large_green_circle:": "🟢",
    ":heavy_multiplication_x:": "✖️", ":hatching_chick:": "🐣", ":grey_question:": "❔", ":arrow_forward:": "▶️",
    ":fire:": "🔥", ":memory:": "📝",
}

# <@U123>, <#C123|name>, <!here>, <!subteam^S1|@team>, <!date^epoch^{token}|fallback>, <url|label>, <url>.
# Only these: text renderers also write usages such as `<image@sha256:digest>`, which stay as typed.
_MARKUP = re.compile(r"<([@#!][^<>\s|][^<>]*|(?:https?|mailto|ftp):[^<>\s|]+(?:\|[^<>]*)?)>")
_DATE = re.compile(r"!date\^(-?\d+)\^[^|]*(?:\^[^|]*)?(?:\|.*)?$")
_USER_PREFIX = "console:"


def _local_time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M %Z")


def _plain(inner: str) -> str:
    """One `<…>` of Slack markup as plain text."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        user = target[1:].removeprefix(_USER_PREFIX)
        return label if label.startswith("@") else f"@{user}"
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!"):
        date = _DATE.match(inner)
        if date:
            return _local_time(int(date.group(1)))
        if label:
            return label
        word = target[1:].split("^", 1)[0]
        return f"@{word}"
    if label:
        return f"{label} ({target})"
    return target


def slack_markup_to_plain(text: str) -> str:
    """`<@U123>` → `@U123`, `<@console:root>` → `@root`, `<!date^…|fallback>` → local time,
    `<url|label>` → `label (url)`, and `&lt;` `&gt;` `&amp;` unescaped (last, so they stay literal)."""
    text = _MARKUP.sub(lambda match: _plain(match.group(1)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def terminal_text(text: str) -> str:
    for code, character in EMOJI.items():
        text = text.replace(code, character)
    return slack_markup_to_plain(text)
