"""`/bizra help`: every subcommand with its usage, from the registry so it can never drift."""

from __future__ import annotations

from bot.core.invocation import Invocation, Reply
from bot.core.runtime import Runtime
from bot.features.help.render import HelpEntry, HelpListing


def show_help(invocation: Invocation, runtime: Runtime) -> Reply:
    ordered = sorted(runtime.registry.subcommands.values(), key=lambda cmd: cmd.name)
    entries = [HelpEntry(usage=cmd.usage, summary=cmd.summary) for cmd in ordered]
    return Reply(result=HelpListing(command=runtime.config.slack.command, entries=entries), ephemeral=True)
