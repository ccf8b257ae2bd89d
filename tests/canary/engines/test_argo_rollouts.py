"""`/bizra canary …` with `canary.engine: argo-rollouts`, over signed Slack requests.

The Rollout is the shipped one (ops/canary/argo-rollouts/rollout.yaml) on the Kubernetes API
emulator; Argo Rollouts' controller is played by tests/support/argo_rollouts.py, reacting to every
write of the Rollout. The SLO evidence comes from the real Prometheus where the policy needs it.
"""

from __future__ import annotations

from pathlib import Path

from bot.core.audit import latest
from bot.features.canary.store import load
from bot.features.releases.history import last_stable
from tests.canary.conftest import (
    CANDIDATE,
    MANAGER,
    NS,
    RELEASE_CHANNEL,
    STABLE,
    VIEWER,
    MakeDriver,
    ephemeral,
    now_clock,
    posts,
    text_of,
)
from tests.canary.engines.argo_support import OTHER, argo_config, argo_seed, rollout_status, template_image
from tests.canary.test_canary_slo import P99, metrics, node0, slo_config, tick_for, tick_until
from tests.support.argo_rollouts import ArgoRolloutsController
from tests.support.kube_api import KubeApiServer
from tests.support.node0_exporter import Node0Exporter
from tests.support.prometheus import PrometheusServer
from tests.support.shared_prometheus import Slot
from tests.support.slack import SlackRecorder

__all__ = ["metrics", "node0"]  # fixtures used by name below


def test_release_goes_through_the_rollouts_three_stages_and_completes(
        metrics: tuple[PrometheusServer, Slot], api: KubeApiServer, tmp_path: Path,
        driver_factory: MakeDriver) -> None:
    prom, slot = metrics
    controller = argo_seed(api)
    stable_hash = rollout_status(api)["stableRS"]
    clock = now_clock()
    config = argo_config(api, tmp_path, slo=slo_config(prom.url, window="15m", sustain="10s", slot=slot))
    driver = driver_factory(config, clock)

    started = text_of(driver.run(f"canary start {CANDIDATE}"))
    assert "stage 1/3" in started, started
    status = rollout_status(api)
    canary_hash = status["currentPodHash"]
    assert template_image(api) == CANDIDATE and canary_hash != stable_hash
    assert controller.image_of(canary_hash) == CANDIDATE
    assert status["currentStepIndex"] == 1 and status["pauseConditions"][0]["reason"] == "CanaryPauseStep"
    assert status["canary"]["weights"]["canary"]["weight"] == 10
    run = load(driver.bot.runtime)
    assert run is not None and run.run.engine == "argo-rollouts" and run.run.revision == canary_hash

    shown = text_of(driver.run("canary status", user=VIEWER))
    assert "Engine `argo-rollouts`: Rollout bizra-production/node0 is paused, canary weight 10%" in shown, shown
    assert f"pod hash {canary_hash}" in shown and f"pod hash {stable_hash}" in shown
    assert "Canary pods ready: 1/1" in shown

    tick_for(driver, clock, seconds=30)
    early = driver.run("canary promote")
    assert ephemeral(early) and "baked 30s of 1m; 30s left" in text_of(early)
    assert rollout_status(api)["pauseConditions"], "a refused promotion leaves the pause in place"
    assert not [r for r in api.calls("PATCH", "/rollouts/node0/status")]

    tick_for(driver, clock, seconds=30)
    assert "promoted to stage 2/3" in text_of(driver.run("canary promote"))
    status = rollout_status(api)
    assert status["currentStepIndex"] == 3 and status["canary"]["weights"]["canary"]["weight"] == 50
    assert status["pauseConditions"] and status["currentPodHash"] == canary_hash
    [promote] = api.calls("PATCH", "/rollouts/node0/status")
    assert promote.body["status"] == {"pauseConditions": None} and promote.body["metadata"]["resourceVersion"]
    assert promote.content_type == "application/merge-patch+json"

    tick_for(driver, clock, seconds=120)
    assert "promoted to stage 3/3" in text_of(driver.run("canary promote"))
    status = rollout_status(api)
    assert status["phase"] == "Healthy" and status["stableRS"] == canary_hash  # the controller finished its steps

    tick_for(driver, clock, seconds=180)
    done = text_of(driver.run("canary promote"))
    assert "Release complete" in done, done
    record = last_stable(driver.bot.runtime)
    assert record is not None and record.image == CANDIDATE
    assert load(driver.bot.runtime) is None
    actions = [(e.action, e.outcome) for e in reversed(latest(driver.bot.runtime, 20, action_prefix="canary."))]
    assert actions == [("canary.start", "ok"), ("canary.promote", "refused"), ("canary.promote", "ok"),
                       ("canary.promote", "ok"), ("canary.complete", "ok")]
    start_audit = latest(driver.bot.runtime, 20, action_prefix="canary.start")[0]
    assert f"revision {canary_hash}" in start_audit.detail and "Rollout bizra-production/node0" in start_audit.detail


def test_abort_sends_traffic_back_to_the_stable_replica_set(api: KubeApiServer, tmp_path: Path,
                                                            driver_factory: MakeDriver,
                                                            slack_recorder: SlackRecorder) -> None:
    controller = argo_seed(api)
    stable_hash = rollout_status(api)["stableRS"]
    driver = driver_factory(argo_config(api, tmp_path), now_clock())
    driver.run(f"canary start {CANDIDATE}")
    canary_hash = rollout_status(api)["currentPodHash"]

    aborted = text_of(driver.run("canary abort error budget burning"))

    assert "Canary aborted" in aborted and "error budget burning" in aborted
    [abort] = [r for r in api.calls("PATCH", "/rollouts/node0/status") if r.status == 200]
    assert abort.body["status"] == {"abort": True}  # what `kubectl argo rollouts abort` sends
    status = rollout_status(api)
    assert status["stableRS"] == stable_hash and status["currentPodHash"] == stable_hash
    assert status["phase"] == "Healthy"  # the template went back to the stable image: no Degraded left behind
    assert template_image(api) == STABLE
    assert (controller.replica_set(canary_hash) or {})["spec"]["replicas"] == 0
    assert load(driver.bot.runtime) is None
    audit = latest(driver.bot.runtime, 5, action_prefix="canary.abort")[0]
    assert audit.outcome == "ok" and "status.abort=true" in audit.detail and "image back to" in audit.detail
    assert any("all traffic on the stable ReplicaSet" in text_of(p) for p in posts(slack_recorder, RELEASE_CHANNEL))


def test_promote_racing_a_new_revision_promotes_nothing(api: KubeApiServer, tmp_path: Path,
                                                         driver_factory: MakeDriver,
                                                         slack_recorder: SlackRecorder) -> None:
    controller = argo_seed(api)
    driver = driver_factory(argo_config(api, tmp_path), now_clock())
    driver.run(f"canary start {CANDIDATE}")
    approved = rollout_status(api)["currentPodHash"]
    # Between the bot's read and its promote, a CD pushes another image: a new pod-template hash.
    controller.replace_template_before_next_promote(image=OTHER)

    # Forced past the policy (no SLO evidence here): only the engine's revision binding can stop it.
    refused = driver.run('canary promote --force "hotfix window"', user=MANAGER)

    text = text_of(refused)
    assert "now runs another revision" in text and approved in text and "approval is void" in text, text
    status = rollout_status(api)
    new_hash = status["currentPodHash"]
    assert new_hash != approved and controller.image_of(new_hash) == OTHER
    assert status["pauseConditions"], "the new revision's pause was not cleared"
    assert status["currentStepIndex"] == 1
    attempts = api.calls("PATCH", "/rollouts/node0/status")
    assert [r.status for r in attempts] == [409], "one conditioned write, refused; re-read, re-checked, not re-sent"
    active = load(driver.bot.runtime)
    assert active is not None and active.run.stage == 0 and active.run.revision == approved
    audit = latest(driver.bot.runtime, 5, action_prefix="canary.promote")[0]
    assert audit.outcome == "refused" and f"approved revision {approved}, found {new_hash}" in audit.detail
    assert any("approval is void" in text_of(p) for p in posts(slack_recorder, RELEASE_CHANNEL) if
               p.body.get("thread_ts"))
    # The run now says so on every look, and waiting does not help.
    status_text = text_of(driver.run("canary status", user=VIEWER))
    assert "runs another revision" in status_text and new_hash in status_text

    # Aborting the run aborts the update in flight (traffic on stable) but leaves the other writer's template.
    assert "Canary aborted" in text_of(driver.run("canary abort superseded"))
    assert rollout_status(api)["abort"] is True and rollout_status(api)["phase"] == "Degraded"
    assert template_image(api) == OTHER
    assert load(driver.bot.runtime) is None
    assert any("was left as it is" in text_of(p) for p in posts(slack_recorder, RELEASE_CHANNEL))


def test_start_refuses_while_the_rollout_is_mid_update(api: KubeApiServer, tmp_path: Path,
                                                       driver_factory: MakeDriver) -> None:
    controller = argo_seed(api)
    controller.set_image(OTHER)  # someone else's update, held at the first pause
    driver = driver_factory(argo_config(api, tmp_path), now_clock())

    refused = driver.run(f"canary start {CANDIDATE}")

    assert ephemeral(refused) and "in the middle of another update" in text_of(refused)
    assert template_image(api) == OTHER
    assert load(driver.bot.runtime) is None


def test_sustained_breach_rolls_the_rollout_back(
        metrics: tuple[PrometheusServer, Slot], node0: Node0Exporter, api: KubeApiServer, tmp_path: Path,
        driver_factory: MakeDriver, slack_recorder: SlackRecorder) -> None:
    prom, slot = metrics
    argo_seed(api)
    stable_hash = rollout_status(api)["stableRS"]
    clock = now_clock()
    config = argo_config(api, tmp_path, slo=slo_config(prom.url, window="3s", sustain="2s", slot=slot,
                                                       interval="1s"))
    driver = driver_factory(config, clock)
    driver.run(f"canary start {CANDIDATE}")
    assert rollout_status(api)["canary"]["weights"]["canary"]["weight"] == 10

    node0.set(latency_seconds=0.003)
    prom.wait_for_value(slot.scoped(P99.format(w="3s")), lambda v: v > 0.0015, what="p99 over 1.5 ms")
    tick_until(driver, clock, lambda: load(driver.bot.runtime) is None, what="the auto-rollback")

    status = rollout_status(api)
    assert status["currentPodHash"] == stable_hash and status["phase"] == "Healthy"
    assert template_image(api) == STABLE
    assert any(r.body.get("status") == {"abort": True} for r in api.calls("PATCH", "/rollouts/node0/status"))
    audit = latest(driver.bot.runtime, 5, action_prefix="canary.auto_rollback")
    assert len(audit) == 1 and audit[0].outcome == "ok" and "cb_latency_p99" in audit[0].detail
    assert any("Auto-rollback" in text_of(p) and not p.body.get("thread_ts")
               for p in posts(slack_recorder, RELEASE_CHANNEL))


def test_promotion_waits_until_the_controller_holds_at_the_stage(api: KubeApiServer, tmp_path: Path,
                                                                 driver_factory: MakeDriver) -> None:
    # A controller that has not reacted yet (reconciled only when the test says so), and no follow time.
    controller = ArgoRolloutsController(api, NS, "node0").seed(image=STABLE)
    config = argo_config(api, tmp_path)
    config.canary.argo_rollouts.follow_seconds = 0
    driver = driver_factory(config, now_clock())
    started = text_of(driver.run(f"canary start {CANDIDATE}"))
    assert "stage 1/3" in started and "has not reached stage 1 (10%)" in started, started
    assert template_image(api) == CANDIDATE and "pauseConditions" not in rollout_status(api)

    refused = driver.run("canary promote")
    assert ephemeral(refused)
    assert "The argo-rollouts engine is not holding at stage 1 (stage1-10pct) yet" in text_of(refused), text_of(refused)
    assert not api.calls("PATCH", "/rollouts/node0/status")

    controller.reconcile()  # the controller catches up: setWeight 10, then the pause
    shown = text_of(driver.run("canary status", user=VIEWER))
    assert "not holding" not in shown and "canary weight 10%" in shown
