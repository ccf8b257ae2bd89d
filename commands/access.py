"""Who may run what: pure role resolution, no I/O.

Roles map Slack user IDs and user-group IDs to permissions; `everyone` grants permissions to any
user; a permission may be limited to some channels. `decide()` takes the caller's identity and the
policy and answers allowed or refused-with-the-reason. Loading the policy from config, resolving
group membership through Slack and auditing refusals happen in `bot/features/access/enforce.py`; keeping this part
pure lets the policy be tested without a workspace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from pydantic import BaseModel, Field


class Permission(StrEnum):
    """Every permission a role can grant (names agreed across the bot's features)."""

    GATES = "gates"
    SLO = "slo"
    CANARY_STATUS = "canary.status"
    CANARY_START = "canary.start"
    CANARY_PROMOTE = "canary.promote"
    CANARY_ABORT = "canary.abort"
    CANARY_FORCE = "canary.force"
    ROLLBACK = "rollback"
    AUDIT = "audit"
    VERIFY = "verify"
    DOD = "dod"  # see the five Definition-of-Done gates (read-only)
    ALERT_ACK = "alert.ack"
    ALERT_SILENCE = "alert.silence"  # silence an SLO's re-pages for a while (audited, expires by itself)
    SIGNOFF = "signoff"  # see and tick the sign-off (each section still needs its own team)
    EVIDENCE = "evidence"  # assemble a release's evidence archive on demand
    HISTORY = "history"  # see the release history (read-only)


class Role(BaseModel):
    """A named set of permissions and who holds them (Slack user IDs `U…`, user-group IDs `S…`)."""

    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    permissions: list[Permission] = Field(default_factory=list)


class Caller(BaseModel):
    """Who is asking: a Slack user (with the user groups they belong to) or the console."""

    user_id: str
    groups: frozenset[str] = frozenset()
    channel_id: str = ""
    console: bool = False


class Policy(BaseModel):
    everyone: list[Permission] = Field(default_factory=list)
    roles: dict[str, Role] = Field(default_factory=dict)
    console_roles: list[str] = Field(default_factory=list)
    channels: dict[Permission, list[str]] = Field(default_factory=dict)


class Decision(BaseModel):
    allowed: bool
    permission: Permission
    # The roles that granted the permission (empty when refused, or when granted to everyone).
    granted_by: list[str] = Field(default_factory=list)
    refusal: str | None = None


ALL_ROLES = "*"  # in console_roles: every permission


def roles_of(caller: Caller, policy: Policy) -> list[str]:
    """The names of the roles the caller holds; purely computational."""
    if caller.console:
        if ALL_ROLES in policy.console_roles:
            return list(policy.roles)
        return [name for name in policy.console_roles if name in policy.roles]
    return [
        name
        for name, role in policy.roles.items()
        if caller.user_id in role.users or caller.groups.intersection(role.groups)
    ]


def permissions_of(caller: Caller, policy: Policy) -> set[Permission]:
    held = set(policy.everyone)
    for name in roles_of(caller, policy):
        held.update(policy.roles[name].permissions)
    return held


def roles_granting(permission: Permission, roles: Mapping[str, Role]) -> list[str]:
    return sorted(name for name, role in roles.items() if permission in role.permissions)


def decide(caller: Caller, permission: Permission, policy: Policy) -> Decision:
    """Allowed, or refused with a sentence saying why and who can help; purely computational."""
    allowed_channels = policy.channels.get(permission) or []
    # Channel limits are about where a change is seen; the console has no channel.
    if allowed_channels and not caller.console and caller.channel_id not in allowed_channels:
        places = ", ".join(f"<#{channel}>" for channel in allowed_channels)
        return Decision(
            allowed=False,
            permission=permission,
            refusal=f"`{permission}` can only be run in {places}. Run it there.",
        )
    if permission in policy.everyone:
        return Decision(allowed=True, permission=permission)
    if caller.console and ALL_ROLES in policy.console_roles:
        return Decision(allowed=True, permission=permission, granted_by=[ALL_ROLES])
    mine = [name for name in roles_of(caller, policy) if permission in policy.roles[name].permissions]
    if mine:
        return Decision(allowed=True, permission=permission, granted_by=mine)
    granting = roles_granting(permission, policy.roles)
    who = (
        f"It is granted by the role(s) {_names(granting)} in the bot's `access` config; ask a release manager "
        "to add you."
        if granting
        else "No role in the bot's `access` config grants it; ask the bot's operators to configure one."
    )
    return Decision(allowed=False, permission=permission, refusal=f"You are not allowed to run `{permission}`. {who}")


def _names(items: Iterable[str]) -> str:
    return ", ".join(f"`{item}`" for item in items)
