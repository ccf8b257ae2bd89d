"""Text for a terminal: Slack's emoji shortcodes become the characters they stand for."""

from __future__ import annotations

# Slack renders these shortcodes; a terminal shows them as the characters they stand for.
EMOJI = {
    ":warning:": "⚠️", ":x:": "❌", ":white_check_mark:": "✅", ":no_entry:": "⛔", ":rewind:": "⏪",
    ":hourglass_flowing_sand:": "⏳", ":zzz:": "💤", ":white_circle:": "⚪", ":rotating_light:": "🚨",
    ":rocket:": "🚀", ":red_circle:": "🔴", ":leftwards_arrow_with_hook:": "↩️", ":large_green_circle:": "🟢",
    ":heavy_multiplication_x:": "✖️", ":hatching_chick:": "🐣", ":grey_question:": "❔", ":arrow_forward:": "▶️",
    ":fire:": "🔥", ":memory:": "📝",
}


def terminal_text(text: str) -> str:
    for code, character in EMOJI.items():
        text = text.replace(code, character)
    return text
