"""`/bizra help [subcommand]`: every subcommand with its usage, from the registry so it can never drift."""

from __future__ import annotations

from bot.core.invocation import Invocation, Reply, UsageError
from bot.core.runtime import Runtime
from bot.features.help.permissions import COMMAND_PERMISSIONS
from bot.features.help.render import HelpEntry, HelpListing, Requirement, SubcommandHelp


def show_help(invocation: Invocation, runtime: Runtime) -> Reply:
    if len(invocation.args) > 1:
        raise UsageError("Usage: `/bizra help [subcommand]`, e.g. `/bizra help canary`.")
    if invocation.args:
        return Reply(result=subcommand_help(invocation.args[0], runtime), ephemeral=True)
    ordered = sorted(runtime.registry.subcommands.values(), key=lambda cmd: cmd.name)
    entries = [HelpEntry(usage=cmd.usage, summary=cmd.summary) for cmd in ordered]
    return Reply(result=HelpListing(command=runtime.config.slack.command, entries=entries), ephemeral=True)


def subcommand_help(name: str, runtime: Runtime) -> SubcommandHelp:
    """One subcommand: its forms, what it does, and the permission each form needs and who holds it.

    An unknown name raises the registry's UsageError, with its "did you mean" suggestion.
    """
    command = runtime.registry.lookup(name.lower())
    access = runtime.config.access
    requirements = []
    for form, permission in COMMAND_PERMISSIONS.get(command.name, []):
        if permission is None:
            requirements.append(Requirement(form=form, permission=None, holders="anyone"))
            continue
        roles = [role for role, spec in access.roles.items() if permission in spec.permissions]
        holders = ["everyone"] if permission in access.everyone else []
        holders += [f"role {role}" for role in roles]
        requirements.append(Requirement(form=form, permission=permission.value, holders=", ".join(holders) or "nobody"))
    return SubcommandHelp(
        command=runtime.config.slack.command,
        name=command.name,
        usages=[usage.strip() for usage in command.usage.split(" | ")],
        summary=command.summary,
        requirements=requirements,
    )
