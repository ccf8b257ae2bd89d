"""Block Kit as the plain text a reader sees, for the examples in the docs (README.md's style).

One line (or several) per block: a header's text; a section's text, then its fields and its accessory;
a context's elements joined by " · "; buttons as `[ Label ]` side by side; a divider as `---`.
mrkdwn is kept as written (`*bold*`, backticks, `:emoji:` shortcodes), except what Slack resolves
when it shows a message: `<@U…>` becomes `@name` and `<#C…>` becomes `#name` (from `names`, else the
ID), a date token `<!date^…|fallback>` its fallback (UTC), a link `<url|label>` its label.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_TOKEN = re.compile(r"<([@#!])([^>|]*)(?:\|([^>]*))?>|<([^>|]+)\|([^>]*)>")


def _resolve(text: str, names: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        sigil, ref, fallback, url_label = match.group(1), match.group(2), match.group(3), match.group(5)
        if sigil is None:  # <url|label>
            return url_label
        if sigil == "!":  # <!date^…|fallback>, <!here>
            return fallback if fallback is not None else f"@{ref}"
        return f"{sigil}{fallback or names.get(ref, ref)}"

    return _TOKEN.sub(replace, text)


def _text_of(obj: Any, names: Mapping[str, str]) -> str:
    return _resolve(str(obj.get("text", "")), names) if isinstance(obj, dict) else ""


def _element(element: dict[str, Any], names: Mapping[str, str]) -> str:
    if element.get("type") == "button":
        return f"[ {_text_of(element.get('text'), names)} ]"
    if element.get("type") == "image":
        return f"[image: {element.get('alt_text', '')}]"
    placeholder = _text_of(element.get("placeholder"), names)
    return f"[ {placeholder or element.get('type', 'element')} ▾ ]"


def _block_lines(block: dict[str, Any], names: Mapping[str, str]) -> list[str]:
    kind = block.get("type")
    if kind in ("header", "section"):
        lines = [_text_of(block.get("text"), names)] if "text" in block else []
        lines += [_text_of(field, names) for field in block.get("fields", [])]
        if isinstance(block.get("accessory"), dict):
            lines.append(_element(block["accessory"], names))
        return lines
    if kind == "context":
        return [" · ".join(_text_of(e, names) if e.get("type") != "image" else _element(e, names)
                           for e in block.get("elements", []))]
    if kind == "actions":
        return ["  ".join(_element(e, names) for e in block.get("elements", []))]
    if kind == "divider":
        return ["---"]
    return [f"[{kind} block]"]


def blocks_as_text(blocks: list[dict[str, Any]], *, names: Mapping[str, str] | None = None) -> str:
    """`blocks` (a message's or a view's, as sent to Slack) as text, one block after the other."""
    resolved = names or {}
    return "\n".join(line for block in blocks for line in _block_lines(block, resolved))
