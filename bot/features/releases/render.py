"""The words of `/bizra history` (console text and the mrkdwn the Block Kit in `blocks.py` uses).

Times in Slack are date tokens (`<!date^…>`), so everyone reads their own local time; the text
after `|` (UTC) is what clients that cannot format them show. People are mentions; digests are
short (`sha256:` + 12 hex) with the full reference in a context line.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel

from commands.last_stable import HistoryRecord, ReleaseOutcome, short_digest

HISTORY_USAGE = "history [N]"
_USER_ID = re.compile(r"[UW][A-Z0-9_]{2,}")

_OUTCOME_ICON = {
    ReleaseOutcome.COMPLETED: ":white_check_mark:",
    ReleaseOutcome.ABORTED: ":no_entry_sign:",
    ReleaseOutcome.ROLLED_BACK: ":rewind:",
    ReleaseOutcome.RESTORED: ":leftwards_arrow_with_hook:",
}
_OUTCOME_WORDS = {
    ReleaseOutcome.COMPLETED: "completed",
    ReleaseOutcome.ABORTED: "aborted",
    ReleaseOutcome.ROLLED_BACK: "rolled back",
    ReleaseOutcome.RESTORED: "restored by a rollback",
}


class ReleaseHistory(BaseModel):
    """The answer to `/bizra history`: the newest entries first."""

    entries: list[HistoryRecord]
    namespace: str
    deployment: str


def slack_date(when: datetime, *, style: str = "{date_short_pretty} {time}") -> str:
    """A Slack date token: each reader sees `when` in their own time zone; the fallback is UTC."""
    return f"<!date^{int(when.timestamp())}^{style}|{when:%Y-%m-%d %H:%M UTC}>"


def mention(user: str) -> str:
    """A Slack user ID as a mention; anything else (the bot's own names, `console`) as code."""
    return f"<@{user}>" if _USER_ID.fullmatch(user) else f"`{user}`"


def outcome_words(outcome: ReleaseOutcome) -> str:
    return _OUTCOME_WORDS[outcome]


def history_text(history: ReleaseHistory) -> str:
    if not history.entries:
        return (f"No releases of {history.namespace}/{history.deployment} are recorded yet (the bot records "
                "completed, aborted and rolled-back canary runs, and what rollbacks restore).")
    lines = [f"Releases of {history.namespace}/{history.deployment}, newest first:"]
    for entry in history.entries:
        lines.append(f"  #{entry.id}  {short_digest(entry.image)}  {entry.at:%Y-%m-%d %H:%M UTC}  {entry.by}  "
                     f"{outcome_words(entry.outcome)}  ({entry.source})")
    lines.append("Roll back to one: /bizra rollback --to <release #|digest>")
    return "\n".join(lines)


def history_heading(history: ReleaseHistory) -> str:
    return f":package: *Releases of {history.namespace}/{history.deployment}*, newest first"


def history_line(entry: HistoryRecord) -> str:
    return (f"{_OUTCOME_ICON[entry.outcome]} *#{entry.id}* `{short_digest(entry.image)}` · "
            f"{slack_date(entry.at)} · {mention(entry.by)} · {outcome_words(entry.outcome)} ({entry.source})")


def history_full(entry: HistoryRecord) -> str:
    return f"#{entry.id} `{entry.image}`"


def history_empty(history: ReleaseHistory) -> str:
    return history_text(history)


def history_footer() -> str:
    return "Roll back to one of them: `/bizra rollback --to <release #|digest>`"
