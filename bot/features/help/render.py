"""The help listing's words, for Slack and the console (its Block Kit renderer is in `blocks.py`)."""

from __future__ import annotations

from pydantic import BaseModel

TITLE = "bizra — release ChatOps for NODE0"
MORE = "`{command} help <subcommand>` shows one subcommand's forms and who may run them."


class HelpEntry(BaseModel):
    usage: str
    summary: str


class HelpListing(BaseModel):
    command: str
    entries: list[HelpEntry]


class Requirement(BaseModel):
    """One form of a subcommand, the permission it needs (None: anyone) and who holds it by config."""

    form: str
    permission: str | None
    holders: str


class SubcommandHelp(BaseModel):
    """`/bizra help <subcommand>`."""

    command: str
    name: str
    usages: list[str]
    summary: str
    requirements: list[Requirement]


def entry_line(listing: HelpListing, entry: HelpEntry) -> str:
    """One subcommand in mrkdwn: the usage as code, then what it does."""
    return f"`{listing.command} {entry.usage}` — {entry.summary}"


def more_line(listing: HelpListing) -> str:
    return MORE.format(command=listing.command)


def help_text(listing: HelpListing) -> str:
    lines = [TITLE, ""]
    for entry in listing.entries:
        # Usages can be long (canary has four forms), so the summary goes on its own line.
        lines.append(f"  {listing.command} {entry.usage}")
        lines.append(f"      {entry.summary}")
    lines += ["", more_line(listing).replace("`", "")]
    return "\n".join(lines)


def subcommand_title(help_: SubcommandHelp) -> str:
    return f"{help_.command} {help_.name} — {help_.summary}"


def usage_lines(help_: SubcommandHelp) -> list[str]:
    return [f"`{help_.command} {usage}`" for usage in help_.usages]


def requirement_line(help_: SubcommandHelp, requirement: Requirement) -> str:
    if requirement.permission is None:
        return f"`{help_.command} {requirement.form}` needs no permission"
    return f"`{help_.command} {requirement.form}` needs `{requirement.permission}` (held by {requirement.holders})"


def subcommand_text(help_: SubcommandHelp) -> str:
    lines = [subcommand_title(help_), "", "usage:"]
    lines += [f"  {line.replace('`', '')}" for line in usage_lines(help_)]
    if help_.requirements:
        lines += ["", "permissions:"]
        lines += [f"  {requirement_line(help_, r).replace('`', '')}" for r in help_.requirements]
    return "\n".join(lines)
