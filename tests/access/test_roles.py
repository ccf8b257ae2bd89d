"""Who may run what: roles from config, refusals audited, `/bizra audit` shows the log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.assembly import build_runtime
from bot.core.audit import latest, record
from bot.core.config import BizraConfig, Secrets
from bot.core.runtime import Runtime
from bot.features.access.enforce import check, require
from bot.features.access.settings import AccessSettings
from commands.access import Caller, Permission, Policy, Role, decide
from tests.support.bot import running_bot
from tests.support.slack import SlackRecorder


def _config(tmp_path: Path, **access: object) -> BizraConfig:
    return BizraConfig.model_validate({"store": {"path": str(tmp_path / "state.sqlite")}, "access": access})


def _runtime(config: BizraConfig, *, surface: str = "slack") -> Runtime:
    return build_runtime(config=config, secrets=Secrets(), surface=surface)


ROLES = {
    "responder": {"users": ["U_RESP"], "permissions": ["rollback"]},
    "deployer": {"groups": ["S_DEPLOY"], "permissions": ["canary.start", "canary.promote"]},
}


def test_defaults_read_only_for_everyone_changes_for_nobody() -> None:
    policy = Policy(**AccessSettings().model_dump(include={"everyone", "roles", "console_roles", "channels"}))
    anyone = Caller(user_id="U_ANY", channel_id="C1")
    assert decide(anyone, Permission.GATES, policy).allowed
    assert decide(anyone, Permission.AUDIT, policy).allowed
    for permission in (Permission.ROLLBACK, Permission.CANARY_START, Permission.CANARY_FORCE, Permission.ALERT_ACK):
        refused = decide(anyone, permission, policy)
        assert not refused.allowed
        assert "`responder`" in (refused.refusal or "") or "`deployer`" in (refused.refusal or "") \
            or "`release-manager`" in (refused.refusal or "")


def test_console_user_holds_console_roles() -> None:
    policy = Policy(**AccessSettings().model_dump(include={"everyone", "roles", "console_roles", "channels"}))
    console = Caller(user_id="console:ops", console=True)
    assert decide(console, Permission.ROLLBACK, policy).allowed
    assert decide(console, Permission.CANARY_FORCE, policy).allowed
    locked = Policy(roles={"viewer": Role(permissions=[Permission.GATES])}, console_roles=["viewer"])
    assert not decide(console, Permission.ROLLBACK, locked).allowed


def test_users_and_groups_get_their_roles_permissions(tmp_path: Path) -> None:
    runtime = _runtime(_config(tmp_path, roles=ROLES))
    assert require(runtime, user_id="U_RESP", user_groups=None, channel_id="C1", permission="rollback") is None
    assert require(runtime, user_id="U_X", user_groups={"S_DEPLOY"}, channel_id="C1", permission="canary.start") is None
    refusal = require(runtime, user_id="U_X", user_groups={"S_DEPLOY"}, channel_id="C1", permission="rollback")
    assert refusal is not None and "`responder`" in refusal


def test_refusals_are_audited(tmp_path: Path) -> None:
    runtime = _runtime(_config(tmp_path, roles=ROLES))
    refusal = require(runtime, user_id="U_MALLORY", user_groups=None, channel_id="C9", permission="rollback",
                      target="bizra-production/node0")
    assert refusal is not None
    [entry] = latest(runtime, 5)
    assert (entry.actor, entry.channel, entry.action, entry.outcome) == ("U_MALLORY", "C9", "rollback", "denied")
    assert entry.target == "bizra-production/node0"
    assert "not allowed" in entry.detail


def test_channel_limits(tmp_path: Path) -> None:
    runtime = _runtime(_config(tmp_path, roles=ROLES, channels={"rollback": ["C_RELEASE"]}))
    assert require(runtime, user_id="U_RESP", user_groups=None, channel_id="C_RELEASE", permission="rollback") is None
    refusal = require(runtime, user_id="U_RESP", user_groups=None, channel_id="C_RANDOM", permission="rollback")
    assert refusal is not None and "<#C_RELEASE>" in refusal
    assert check(_runtime(runtime.config, surface="console"), user_id="console:ops", user_groups=None,
                 channel_id="console", permission="rollback").allowed


def test_group_membership_is_looked_up_in_slack_and_cached(tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    lookups: list[str] = []

    def members(recorded):  # type: ignore[no-untyped-def]
        lookups.append(recorded.body.get("usergroup", ""))
        return 200, {"Content-Type": "application/json"}, {"ok": True, "users": ["U_IN_GROUP"]}

    slack_recorder.overrides["usergroups.users.list"] = members
    with running_bot(slack_recorder, config=_config(tmp_path, roles=ROLES)) as bot:
        runtime = bot.runtime
        assert require(runtime, user_id="U_IN_GROUP", user_groups=None, channel_id="C1",
                       permission="canary.start") is None
        assert require(runtime, user_id="U_OUT", user_groups=None, channel_id="C1",
                       permission="canary.start") is not None
    assert lookups == ["S_DEPLOY"], "the membership is fetched once and cached"


def test_failed_group_lookup_refuses(tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    slack_recorder.overrides["usergroups.users.list"] = lambda r: (
        200, {"Content-Type": "application/json"}, {"ok": False, "error": "missing_scope"})
    with running_bot(slack_recorder, config=_config(tmp_path, roles=ROLES)) as bot:
        assert require(bot.runtime, user_id="U_IN_GROUP", user_groups=None, channel_id="C1",
                       permission="canary.start") is not None


def test_console_roles_must_exist() -> None:
    with pytest.raises(ValueError, match="console_roles"):
        AccessSettings(console_roles=["admin"])


def test_unknown_permission_in_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="permissions"):
        AccessSettings(roles={"x": {"permissions": ["deploy-everything"]}})


def test_audit_command_shows_latest_entries_over_slack(tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    config = _config(tmp_path)
    with running_bot(slack_recorder, config=config) as bot:
        for index in range(3):
            record(bot.runtime, actor=f"U{index}", channel="C1", action="rollback", target="bizra-production/node0",
                   before=f"img{index}", after=f"img{index + 1}", outcome="ok")
        status, _ = bot.command("audit 2")
        assert status == 200
        [response] = slack_recorder.wait_for(lambda rs: any(r.path == "/response/cmd" for r in rs),
                                             what="the audit reply")[-1:]
    body = response.body
    assert body["response_type"] == "ephemeral"
    text = json.dumps(body["blocks"], ensure_ascii=False)
    assert "U2" in text and "U1" in text and "U0" not in text
    assert text.index("U2") < text.index("U1"), "newest first"
    assert "`img2` → `img3`" in text


def test_audit_command_rejects_a_bad_count(tmp_path: Path) -> None:
    from bot.surfaces.console import run_line

    runtime = _runtime(_config(tmp_path), surface="console")
    assert "whole number from 1 to 200" in run_line("/bizra audit lots", runtime, user_id="console:ops")
    assert "audit log is empty" in run_line("/bizra audit", runtime, user_id="console:ops")
