"""`leader_election:` in bizra.yaml: validated timings, the `auto` rule, identity and namespace defaults,
and what `bizra serve`'s runtime builds from them."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from bot.assembly import build_runtime
from bot.core.config import BizraConfig, load_config, load_secrets
from bot.core.config_file import ConfigError
from bot.core.leadership import LeaseElector, SoleLeader, resolve_identity, resolve_namespace
from bot.core.settings import KubeAccessSettings, LeaderElectionSettings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bizra.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("section", "problem"), [
    ("lease_duration: 10s\n  renew_deadline: 10s", "renew_deadline must be shorter than lease_duration"),
    ("renew_deadline: 2s\n  retry_period: 2s", "retry_period must be shorter than renew_deadline"),
    ("lease_duration: 15.5", "lease_duration must be whole seconds"),
    ("lease_name: Bizra_Leader", "leader_election.lease_name"),
    ("enabled: sometimes", "leader_election.enabled"),
])
def test_bad_timings_and_names_are_refused_with_the_reason(tmp_path: Path, section: str, problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, f"leader_election:\n  {section}\n"))
    assert problem in str(refused.value)


def test_timings_read_as_durations(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, "leader_election:\n  lease_duration: 30s\n  renew_deadline: 20\n"
                                           "  retry_period: 5s\n")).leader_election
    assert [d.total_seconds() for d in (settings.lease_duration, settings.renew_deadline, settings.retry_period)] \
        == [30, 20, 5]


def test_identity_is_the_pod_name_else_host_and_pid() -> None:
    settings = LeaderElectionSettings()
    assert resolve_identity(settings, {"POD_NAME": "bizra-bot-7c9d-x2k"}) == "bizra-bot-7c9d-x2k"
    assert resolve_identity(settings.model_copy(update={"identity": "fixed"}), {"POD_NAME": "p"}) == "fixed"
    assert resolve_identity(settings, {}) == f"{socket.gethostname()}-{os.getpid()}"


def test_namespace_is_configured_else_the_pods_own(tmp_path: Path) -> None:
    settings = LeaderElectionSettings()
    missing = tmp_path / "absent"
    assert resolve_namespace(settings, {}, service_account_file=missing) == "bizra-bot"
    account = tmp_path / "namespace"
    account.write_text("ops-tools\n", encoding="utf-8")
    assert resolve_namespace(settings, {}, service_account_file=account) == "ops-tools"
    assert resolve_namespace(settings, {"POD_NAMESPACE": "from-env"}, service_account_file=account) == "from-env"
    assert resolve_namespace(settings.model_copy(update={"namespace": "set"}), {"POD_NAMESPACE": "x"}) == "set"


def test_auto_elects_in_a_pod_only_and_the_console_never(monkeypatch: pytest.MonkeyPatch,
                                                        access: KubeAccessSettings) -> None:
    config = BizraConfig.model_validate({"release": {"kube": access.model_dump(mode="json")}})
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert isinstance(build_runtime(config, load_secrets()).leadership.get(), SoleLeader)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("POD_NAME", "bizra-bot-0")
    elected = build_runtime(config, load_secrets()).leadership.get()
    assert isinstance(elected, LeaseElector) and elected.identity == "bizra-bot-0"
    assert isinstance(build_runtime(config, load_secrets(), surface="console").leadership.get(), SoleLeader)
    off = config.model_copy(update={"leader_election": LeaderElectionSettings(enabled=False)})
    assert isinstance(build_runtime(off, load_secrets()).leadership.get(), SoleLeader)
