"""Roles (who may run what) and channel limits.

Out of the box, read-only permissions are granted to everyone, and the state-changing ones
(canary start/promote/abort/force, rollback, alert acknowledgement) only to users or user groups
listed in a role; the four roles exist with nobody in them, so a new workspace changes nothing
until someone is named. The console is run by whoever holds the terminal (and the kubeconfig), so
it gets the roles in `console_roles` (by default `"*"`: every permission).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from commands.access import Permission, Role

P = Permission


def _default_roles() -> dict[str, Role]:
    return {
        "viewer": Role(permissions=[P.GATES, P.SLO, P.CANARY_STATUS, P.VERIFY, P.DOD, P.AUDIT, P.SIGNOFF,
                                    P.HISTORY]),
        "deployer": Role(permissions=[P.CANARY_START, P.CANARY_PROMOTE, P.CANARY_ABORT, P.ALERT_ACK, P.ALERT_SILENCE,
                                      P.EVIDENCE]),
        "responder": Role(permissions=[P.ROLLBACK, P.CANARY_ABORT, P.ALERT_ACK, P.ALERT_SILENCE]),
        "release-manager": Role(
            permissions=[
                P.GATES, P.SLO, P.CANARY_STATUS, P.VERIFY, P.DOD, P.AUDIT, P.CANARY_START, P.CANARY_PROMOTE,
                P.CANARY_ABORT, P.CANARY_FORCE, P.ROLLBACK, P.ALERT_ACK, P.ALERT_SILENCE, P.SIGNOFF, P.EVIDENCE,
                P.HISTORY,
            ]
        ),
    }


class AccessSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    everyone: list[Permission] = Field(
        default_factory=lambda: [P.GATES, P.SLO, P.CANARY_STATUS, P.VERIFY, P.DOD, P.AUDIT, P.SIGNOFF,
                                 P.HISTORY],
        description="Permissions every Slack user has (read-only ones by default).",
    )
    roles: dict[str, Role] = Field(
        default_factory=_default_roles,
        description="Role name -> users (Slack user IDs), groups (user-group IDs) and permissions.",
    )
    console_roles: list[str] = Field(
        default_factory=lambda: ["*"],
        description='Roles the console user holds; "*" means every permission (the console runs with the '
        "operator's own kubeconfig, which already allows what the bot would do).",
    )
    channels: dict[Permission, list[str]] = Field(
        default_factory=dict,
        description="Permission -> channel IDs where it may be used; a permission not listed works anywhere.",
    )
    resolve_groups: bool = Field(
        default=True,
        description="Look up members of the groups named in roles with Slack's usergroups.users.list "
        "(needs the usergroups:read scope); off means only user IDs count.",
    )
    group_cache_seconds: float = Field(
        default=300.0, gt=0, description="How long a looked-up group membership is trusted."
    )

    @model_validator(mode="after")
    def _console_roles_exist(self) -> AccessSettings:
        missing = [name for name in self.console_roles if name != "*" and name not in self.roles]
        if missing:
            raise ValueError(f"console_roles names roles that are not defined in access.roles: {missing}")
        return self
