"""docs/home.md's "What it looks like" is the Home tab the bot publishes for that state, word for word.

The state is made by the features themselves: the canary's store transitions (start, promote), the SLO
watch's job body reading a real Prometheus (constant PromQL, so its values hold at the fixed clock's
time), the acknowledgement as the Acknowledge button records it, a rollback planned against the API
emulator and stored as a pending confirmation, and the release history. The tab is then opened as Slack
opens it (a signed `app_home_opened`) and the `views.publish` it answers with is turned into text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core.config import BizraConfig
from bot.core.runtime import Runtime
from bot.features.canary import store as canary_store
from bot.features.releases.history import StoreHistory, record_aborted, record_stable
from bot.features.rollback import confirmations
from bot.features.rollback.canary_run import in_flight
from bot.features.rollback.workload import rollback_target, workload_cluster
from bot.features.slo.watch import acknowledge_alert, load_state, run_once
from commands.canary import CanaryRun
from commands.ports import FixedClock
from commands.rollback import RollbackPlan, plan_rollback
from commands.slo import default_catalog
from tests.home.test_home import _open_home
from tests.rollback.conftest import seed
from tests.support.blockkit_text import blocks_as_text
from tests.support.bot import RunningBot, running_bot
from tests.support.kube_api import KubeApiServer
from tests.support.shared_prometheus import SharedPrometheus
from tests.support.slack import SlackRecorder

DOC = Path(__file__).resolve().parents[2] / "docs" / "home.md"
MARKER = "<!-- example:home -->"

START = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)  # the canary starts; stage 1 bakes 60 min
PROMOTED = START + timedelta(hours=1)  # stage 2 (50%, 2h bake) starts
NOW = PROMOTED + timedelta(minutes=48)  # 48 of 120 minutes baked: 40%
MANAGER = "U024RELMGR"
ON_CALL = "U024BE7LH"
RELEASE_CHANNEL = "C0RELEASE"
NAMES = {MANAGER: "release-manager", ON_CALL: "sre-oncall", RELEASE_CHANNEL: "release"}
REPO = "ghcr.io/bizra/node0@sha256:"
CANARY_IMAGE = REPO + "c" * 64
STABLE_IMAGE = REPO + "a" * 64  # release #3, what the stable Deployment runs
RELEASES = [(REPO + "e" * 64, datetime(2026, 11, 24, 14, 5, tzinfo=UTC), "completed", "canary 1f0b7d2e"),
            (REPO + "b" * 64, datetime(2026, 11, 26, 9, 30, tzinfo=UTC), "aborted", "canary 9a4c3e61"),
            (STABLE_IMAGE, datetime(2026, 11, 27, 16, 12, tzinfo=UTC), "completed", "canary 40d8b5f3")]
# The catalog's own SLOs, each read as a constant: the p99 latency above its 1.5 ms objective.
VALUES = {"cb_latency_p99": "0.0021", "cb_error_rate": "0.002", "cache_l1_hit_ratio": "0.95",
          "planner_json_validity": "0.993"}


def _config(prom_url: str, api: KubeApiServer, tmp_path: Path) -> BizraConfig:
    catalog = [slo.model_copy(update={"query": f"vector({VALUES[slo.name]})"}).model_dump(mode="json")
               for slo in default_catalog()]
    return BizraConfig.model_validate({
        "store": {"path": str(tmp_path / "state.sqlite")},
        "slack": {"release_channel": RELEASE_CHANNEL, "messages_per_second": 50},
        "canary": {"auto_rollback": False},  # the breach leaves the canary to people: on-call asks for a rollback
        "slo": {"prometheus": {"url": prom_url, "timeout_seconds": 3}, "catalog": catalog, "sustain": 300,
                "on_call": {"users": [ON_CALL]}},
        "release": {"kube": {"mode": "kubeconfig", "kubeconfig": str(api.write_kubeconfig(tmp_path / "kubeconfig")),
                             "timeout_seconds": 3},
                    "rollback": {"incidents_dir": str(tmp_path / "incidents")}},
        "access": {"roles": {
            "release-manager": {"users": [MANAGER], "permissions": [
                "canary.status", "canary.start", "canary.promote", "canary.abort", "rollback", "alert.ack"]},
            "on-call": {"users": [ON_CALL], "permissions": ["rollback", "alert.ack"]}}},
    })


@pytest.fixture
def bot(slack_recorder: SlackRecorder, api: KubeApiServer, shared_prometheus: SharedPrometheus,
        tmp_path: Path) -> Iterator[RunningBot]:
    seed(api, image=STABLE_IMAGE)
    config = _config(shared_prometheus.prom.url, api, tmp_path)
    with running_bot(slack_recorder, config=config, clock=FixedClock(START)) as running:
        yield running


def _releases(runtime: Runtime) -> None:
    """Three canary releases as the canary flow records them (the actor's user ID, the run)."""
    for image, at, outcome, source in RELEASES:
        if outcome == "aborted":
            record_aborted(runtime, image=image, source=source, by=MANAGER, at=at)
        else:
            assert record_stable(runtime, image=image, source=source, by=MANAGER, at=at) is None


def _canary_at_stage_two(runtime: Runtime) -> None:
    """The run `flow.start` stores (its random id fixed), promoted once: what the store holds at stage 2."""
    run = CanaryRun(id="5d516c57", image=CANARY_IMAGE, stage=0, stage_started_at=START, started_at=START,
                    started_by=MANAGER, channel=RELEASE_CHANNEL, stable_image=STABLE_IMAGE,
                    engine=runtime.config.canary.engine)
    claim = canary_store.claim_start(runtime, run, now=START, timeout=timedelta(minutes=5))
    assert claim.token is not None
    assert canary_store.advance(runtime, claim.token, stage=0, stage_started_at=START, event="started")
    claim = canary_store.claim(runtime, kind="promote", expected_stage=0, now=PROMOTED, timeout=timedelta(minutes=5))
    assert claim.token is not None
    assert canary_store.advance(runtime, claim.token, stage=1, stage_started_at=PROMOTED, event="promoted")


def _latency_breach_acknowledged(runtime: Runtime) -> None:
    for minutes in (35, 40):  # breaching for `slo.sustain` (5 min): the alert opens
        run_once(runtime, at=PROMOTED + timedelta(minutes=minutes))
    [alert] = [a for a in load_state(runtime).alerts if a.is_open]
    assert acknowledge_alert(runtime, alert.id, user_id=ON_CALL, at=PROMOTED + timedelta(minutes=42)).alert


def _pending_rollback(runtime: Runtime) -> None:
    """What `/bizra rollback` stores before posting its confirmation, with a fixed id (it draws a random one)."""
    planned = plan_rollback(
        cluster=workload_cluster(runtime), history=StoreHistory(runtime), target=rollback_target(runtime),
        now=PROMOTED + timedelta(minutes=45), expires_in=timedelta(minutes=15), plan_id="7c2e91aa",
        reason="latency breach during the canary", requested_by=ON_CALL, channel=RELEASE_CHANNEL,
        canary=in_flight(runtime))
    assert isinstance(planned, RollbackPlan), planned
    confirmations.save(runtime, planned)


def documented_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    assert MARKER in text, f"{DOC} has no {MARKER}"
    found = re.search(r"```text\n(.*?)\n```", text.split(MARKER, 1)[1], re.DOTALL)
    assert found, f"no ```text block after {MARKER} in {DOC}"
    return found.group(1)


def test_the_documented_home_tab_is_what_the_bot_publishes(bot: RunningBot) -> None:
    runtime = bot.runtime
    assert isinstance(runtime.clock, FixedClock)
    _releases(runtime)
    _canary_at_stage_two(runtime)
    _latency_breach_acknowledged(runtime)
    _pending_rollback(runtime)
    run_once(runtime, at=PROMOTED + timedelta(minutes=47))  # the watch's latest evaluation
    runtime.clock.set(NOW)

    view = _open_home(bot, MANAGER)

    assert not bot.recorder.block_problems
    shown = blocks_as_text(view["blocks"], names=NAMES)
    assert shown == documented_example(), f"docs/home.md is out of date; the bot publishes:\n{shown}"


def test_the_text_form_shows_what_slack_resolves_and_every_block_kind() -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Title"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "by <@U1> in <#C1> and <@U2>, <https://x.test|the run>"},
         "fields": [{"type": "mrkdwn", "text": "*Stage* 2"}],
         "accessory": {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "action_id": "a"}},
        {"type": "divider"},
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": "at <!date^1764378000^{time}|2025-11-29 01:00 UTC>"},
            {"type": "mrkdwn", "text": "<!here>"}]},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Yes"}},
                                         {"type": "button", "text": {"type": "plain_text", "text": "No"}}]},
    ]

    assert blocks_as_text(blocks, names={"U1": "alice", "C1": "release"}).splitlines() == [
        "Title", "by @alice in #release and @U2, the run", "*Stage* 2", "[ Open ]", "---",
        "at 2025-11-29 01:00 UTC · @here", "[ Yes ]  [ No ]"]
