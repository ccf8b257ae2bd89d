"""`/bizra help`: every subcommand with its usage, from the registry so it can never drift."""

from __future__ import annotations

from bot.render.help import HelpEntry, HelpListing
from bot.runtime import Runtime
from bot.subcommands import REGISTRY, Invocation, Reply, subcommand


@subcommand("help", usage="help", summary="List every subcommand.", slow=False)
def show_help(invocation: Invocation, runtime: Runtime) -> Reply:
    ordered = sorted(REGISTRY.values(), key=lambda cmd: cmd.name)
    entries = [HelpEntry(usage=cmd.usage, summary=cmd.summary) for cmd in ordered]
    return Reply(result=HelpListing(command=runtime.config.slack.command, entries=entries), ephemeral=True)
