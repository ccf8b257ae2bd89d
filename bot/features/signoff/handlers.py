"""`/bizra signoff [tick <item> [comment] | sign <section> <comment>]` and the message's Tick buttons.

`/bizra signoff` posts the checklist once as a living message (in `slack.release_channel`, else
where it was asked) and keeps its ts in the store; every tick updates that message. Each section
is signed by its own team (`signoff.sections.<key>`: users, user groups, or roles of
`access.roles`); items the bot can prove are filled from evidence and refused by hand while the
evidence is not PASS. Every tick, and every refused one, is audited (`signoff.tick`, `signoff.sign`).
"""

from __future__ import annotations

import logging

from bot.core.audit import AuditOutcome, record
from bot.core.invocation import ActionInvocation, Invocation, Reply, UsageError
from bot.core.runtime import Runtime
from bot.features.access.enforce import require
from bot.features.signoff import store
from bot.features.signoff.evidence import gather
from bot.features.signoff.render import SignoffMessage
from commands.access import ALL_ROLES, Role
from commands.signoff import (
    Evidence,
    SignoffView,
    Tick,
    decide_section,
    decide_tick,
    resolve_item,
    resolve_section,
    view,
)

log = logging.getLogger(__name__)

USAGE = "signoff | signoff tick <item> [comment] | signoff sign <section> <comment>"
TARGET = "release sign-off"


def teams_of(runtime: Runtime, user_id: str, given: frozenset[str]) -> set[str]:
    """The sections whose team the user belongs to (by user ID, user group or access role)."""
    no_role = Role()
    settings, access = runtime.config.signoff, runtime.config.access
    if runtime.surface == "console":
        if ALL_ROLES in access.console_roles:
            return set(settings.sections)
        return {key for key, signers in settings.sections.items()
                if set(signers.roles) & set(access.console_roles)}
    groups = set(given)
    named = {g for s in settings.sections.values() for g in s.groups}
    named |= {g for s in settings.sections.values() for r in s.roles for g in access.roles.get(r, no_role).groups}
    if named - groups and access.resolve_groups and runtime.secrets.slack_bot_token is not None:
        directory = runtime.groups.get()
        groups |= {g for g in named - groups if user_id in directory.members(g)}
    member: set[str] = set()
    for key, signers in settings.sections.items():
        role_users = {u for r in signers.roles for u in access.roles.get(r, no_role).users}
        role_groups = {g for r in signers.roles for g in access.roles.get(r, no_role).groups}
        if user_id in signers.users or user_id in role_users or groups & (set(signers.groups) | role_groups):
            member.add(key)
    return member


def current(runtime: Runtime, *, evidence: dict[str, Evidence] | None = None) -> SignoffView:
    """The sign-off now: the stored ticks joined with fresh evidence."""
    settings = runtime.config.signoff
    signers = {key: [*s.users, *s.groups, *(f"role:{r}" for r in s.roles)] for key, s in settings.sections.items()}
    return view(ticks=store.ticks(runtime), evidence=gather(runtime) if evidence is None else evidence,
                at=runtime.clock.now(), signers=signers)


def _message(runtime: Runtime, signoff: SignoffView) -> SignoffMessage:
    return SignoffMessage(view=signoff, required_for_canary=runtime.config.signoff.required_for_canary)


def refresh(runtime: Runtime, signoff: SignoffView | None = None) -> None:
    """Update the living message, if one was posted; a Slack hiccup is logged, never fails the tick."""
    where = store.message(runtime)
    if where is None:
        return
    try:
        runtime.poster.get().update(where[1], _message(runtime, signoff or current(runtime)), channel=where[0])
    except Exception as exc:
        log.warning("could not update the sign-off message: %s", exc)


def _authorize(runtime: Runtime, *, user_id: str, groups: frozenset[str], channel_id: str) -> str | None:
    return require(runtime, user_id=user_id, user_groups=groups, channel_id=channel_id, permission="signoff",
                   target=TARGET)


def signoff_command(invocation: Invocation, runtime: Runtime) -> Reply:
    refusal = _authorize(runtime, user_id=invocation.user_id, groups=invocation.user_groups,
                         channel_id=invocation.channel_id)
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    args = invocation.args
    if not args:
        return show(runtime, channel_id=invocation.channel_id)
    verb, rest = args[0].lower(), args[1:]
    if verb == "tick":
        if not rest:
            raise UsageError("Usage: `/bizra signoff tick <item> [comment]`, e.g. "
                             "`/bizra signoff tick sre.2 reviewed`.")
        return tick(runtime, item_word=rest[0], comment=" ".join(rest[1:]), user_id=invocation.user_id,
                    groups=invocation.user_groups, channel_id=invocation.channel_id)
    if verb == "sign":
        if not rest:
            raise UsageError("Usage: `/bizra signoff sign <section> <comment>` (infrastructure, security, sre, "
                             "engineering).")
        return sign(runtime, section_word=rest[0], comment=" ".join(rest[1:]), user_id=invocation.user_id,
                    groups=invocation.user_groups, channel_id=invocation.channel_id)
    raise UsageError(f"`signoff {verb}` is not understood. Usage: `/bizra {USAGE}`.")


def signoff_button(invocation: ActionInvocation, runtime: Runtime) -> Reply | None:
    refusal = _authorize(runtime, user_id=invocation.user_id, groups=invocation.user_groups,
                         channel_id=invocation.channel_id)
    if refusal:
        return Reply(result=refusal, ephemeral=True)
    return tick(runtime, item_word=invocation.value, comment="", user_id=invocation.user_id,
                groups=invocation.user_groups, channel_id=invocation.channel_id)


def show(runtime: Runtime, *, channel_id: str) -> Reply:
    """Post the living message once (or update it), and point the asker at it."""
    signoff = current(runtime)
    message = _message(runtime, signoff)
    if runtime.surface == "console":
        return Reply(result=message)
    where = store.message(runtime)
    if where is not None:
        refresh(runtime, signoff)
        return Reply(result=f"The sign-off is the living message in <#{where[0]}> (updated now).", ephemeral=True)
    channel = runtime.config.slack.release_channel or channel_id
    ts = runtime.poster.get().post(message, channel=channel)
    if ts:
        store.set_message(runtime, channel=channel, ts=ts)
    return Reply(result=f"The sign-off checklist is posted in <#{channel}>; it updates with every tick.",
                 ephemeral=True)


def _audit(runtime: Runtime, *, actor: str, channel: str, action: str, after: object, outcome: str,
           detail: str) -> None:
    record(runtime, actor=actor, channel=channel, action=action, target=TARGET, before="", after=after,
           outcome=outcome, detail=detail)


def tick(runtime: Runtime, *, item_word: str, comment: str, user_id: str, groups: frozenset[str],
         channel_id: str) -> Reply:
    item = resolve_item(item_word)
    if item is None:
        raise UsageError(f"`{item_word[:40]}` is not a checklist item; items look like `security.5` "
                         "(`/bizra signoff` lists them).")
    evidence = gather(runtime)
    refusal = decide_tick(item, member_of=teams_of(runtime, user_id, groups), evidence=evidence.get(item.key))
    if refusal:
        _audit(runtime, actor=user_id, channel=channel_id, action="signoff.tick", after=item.key,
               outcome=AuditOutcome.REFUSED, detail=refusal)
        return Reply(result=f":no_entry: {refusal}", ephemeral=True)
    store.add_ticks(runtime, [Tick(item=item.key, by=user_id, at=runtime.clock.now(), comment=comment)])
    _audit(runtime, actor=user_id, channel=channel_id, action="signoff.tick", after=item.key,
           outcome=AuditOutcome.OK, detail=f"{item.text}" + (f"; comment: {comment}" if comment else ""))
    refresh(runtime, current(runtime, evidence=evidence))
    return Reply(result=f":white_check_mark: `{item.key}` {item.text} — ticked by <@{user_id}>.", ephemeral=True)


def sign(runtime: Runtime, *, section_word: str, comment: str, user_id: str, groups: frozenset[str],
         channel_id: str) -> Reply:
    section = resolve_section(section_word)
    if section is None:
        raise UsageError(f"`{section_word[:40]}` is not a section: infrastructure, security, sre or engineering.")
    evidence = gather(runtime)
    refusals = decide_section(section, member_of=teams_of(runtime, user_id, groups), evidence=evidence,
                              comment=comment)
    if refusals:
        _audit(runtime, actor=user_id, channel=channel_id, action="signoff.sign", after=section.key,
               outcome=AuditOutcome.REFUSED, detail=" | ".join(refusals))
        return Reply(result="\n".join(f":no_entry: {r}" for r in refusals), ephemeral=True)
    now = runtime.clock.now()
    store.add_ticks(runtime, [Tick(item=i.key, by=user_id, at=now, comment=comment, whole_section=True)
                              for i in section.items])
    _audit(runtime, actor=user_id, channel=channel_id, action="signoff.sign", after=section.key,
           outcome=AuditOutcome.OK, detail=f"{section.title}, {len(section.items)} items; comment: {comment}")
    refresh(runtime, current(runtime, evidence=evidence))
    return Reply(result=f":white_check_mark: {section.title} signed by <@{user_id}>: “{comment}”.", ephemeral=True)
