"""`/bizra canary …` over signed Slack requests, against the Kubernetes API emulator (no Prometheus needed).

These cover what does not depend on SLO history: start preconditions, permissions, abort, the
single-transition guarantee under concurrent promotes (with `--force`, so the policy does not
stop the second one — only the claim can), a failed apply leaving the stage unchanged, and the
state surviving a restart.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

from bot.core.audit import latest
from bot.core.config import BizraConfig
from bot.features.canary.store import history, load
from tests.canary.conftest import (
    CANARY_DIR,
    CANDIDATE,
    DEPLOYER,
    MANAGER,
    NS,
    REPO_ROOT,
    STABLE,
    VIEWER,
    Driver,
    MakeDriver,
    ephemeral,
    make_config,
    manifest_weight,
    now_clock,
    posts,
    seed,
    text_of,
)
from tests.support.bot import running_bot
from tests.support.kube_api import KubeApiServer
from tests.support.slack import SlackRecorder


def _bot_config(api: KubeApiServer, tmp_path: Path, **extra: Any) -> BizraConfig:
    # Gates read the shipped, signed artifacts (they pass); no SLO evaluation has been recorded.
    return make_config(api, tmp_path, **extra)


def test_start_refused_when_a_gate_fails(api: KubeApiServer, tmp_path: Path,
                                         driver_factory: MakeDriver) -> None:
    seed(api)
    artifacts = tmp_path / "artifacts"
    shutil.copytree(REPO_ROOT / "artifacts", artifacts)
    cb = json.loads((artifacts / "cb.json").read_text())
    cb["p99_ms"] = 2.4  # over the 1.5 ms gate
    (artifacts / "cb.json").write_text(json.dumps(cb))
    config = make_config(api, tmp_path, gates={"artifacts_dir": str(artifacts),
                                               "trusted_keys": [str(REPO_ROOT / "ops/keys/attestation-release.pub")]})
    driver: Driver = driver_factory(config, now_clock())

    response = driver.run(f"canary start {CANDIDATE}")

    assert ephemeral(response)
    text = text_of(response)
    assert "evidence gates do not pass" in text and "cb_p99" in text
    assert driver.applies() == []  # nothing reached the cluster
    assert load(driver.bot.runtime) is None
    refused = latest(driver.bot.runtime, 5, action_prefix="canary.start")
    assert refused[0].outcome == "refused" and "cb_p99" in refused[0].detail


def test_start_refuses_a_tag_and_a_second_canary_then_abort_returns_traffic(
        api: KubeApiServer, tmp_path: Path, driver_factory: MakeDriver, slack_recorder: SlackRecorder) -> None:
    seed(api)
    driver: Driver = driver_factory(_bot_config(api, tmp_path), now_clock())

    tag = driver.run("canary start ghcr.io/bizra/node0:v2.1.0")
    assert ephemeral(tag) and "not an image pinned by digest" in text_of(tag)

    started = driver.run(f"canary start {CANDIDATE}")
    assert ephemeral(started) and "The run and its history" in text_of(started), text_of(started)
    assert "stage 1/3" in text_of(started) and "10%" in text_of(started)
    assert driver.route_weights() == {"node0": 90, "node0-canary": 10}
    container = driver.canary_deployment()["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == CANDIDATE
    assert all(r.query.get("fieldManager") == "bizra-bot" for r in driver.applies())
    thread_root = posts(slack_recorder)[0]
    assert "Canary started" in text_of(thread_root) and not thread_root.body.get("thread_ts")

    second = driver.run(f"canary start {'ghcr.io/bizra/node0@sha256:' + 'd' * 64}")
    assert ephemeral(second) and "already active" in text_of(second)
    assert driver.canary_deployment()["spec"]["template"]["spec"]["containers"][0]["image"] == CANDIDATE

    not_allowed = driver.run("canary abort", user=VIEWER)
    assert ephemeral(not_allowed) and "not allowed" in text_of(not_allowed)
    assert load(driver.bot.runtime) is not None

    aborted = driver.run("canary abort bad vibes")
    assert "Canary aborted" in text_of(aborted) and "bad vibes" in text_of(aborted)
    assert driver.route_weights() == {"node0": 100, "node0-canary": 0}
    assert driver.canary_deployment()["spec"]["replicas"] == 0
    stable = api.get("apps", "deployments", NS, "node0") or {}
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == STABLE  # stable untouched
    assert load(driver.bot.runtime) is None
    thread_posts = [p for p in posts(slack_recorder) if p.body.get("thread_ts") == thread_root_ts(slack_recorder)]
    assert any("Canary aborted" in text_of(p) for p in thread_posts)
    entries = latest(driver.bot.runtime, 10, action_prefix="canary.")
    abort = next(e for e in entries if e.action == "canary.abort" and e.outcome == "ok")
    assert abort.actor == DEPLOYER and abort.channel == "C_OPS" and CANDIDATE in abort.before
    assert "100% stable" in abort.after
    assert any(e.action == "canary.abort" and e.outcome == "denied" and e.actor == VIEWER for e in entries)

    status = driver.run("canary status", user=VIEWER)
    assert "No canary is active" in text_of(status) and "abort" in text_of(status)


def thread_root_ts(recorder: SlackRecorder) -> str:
    # The recording server answers chat.postMessage with ts values in order; the first post is the root.
    roots = [r for r in posts(recorder) if not r.body.get("thread_ts")]
    later = [r.body.get("thread_ts") for r in posts(recorder) if r.body.get("thread_ts")]
    assert roots and later
    return str(later[0])


def test_two_concurrent_promotes_apply_one_stage(api: KubeApiServer, tmp_path: Path,
                                                 driver_factory: MakeDriver) -> None:
    seed(api)
    driver: Driver = driver_factory(_bot_config(api, tmp_path), now_clock())
    started = driver.run(f"canary start {CANDIDATE}")
    assert ephemeral(started) and "The run and its history" in text_of(started), text_of(started)
    before = len(driver.applies())

    # Two people (or a double click) at once; --force so the policy cannot refuse either one.
    names = ["race-a", "race-b"]

    def promote(name: str, user: str) -> None:
        status, _ = driver.bot.command('canary promote --force "hotfix window"', user_id=user, channel_id="C_OPS",
                                       name=name)
        assert status == 200

    threads = [threading.Thread(target=promote, args=(name, MANAGER)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    recorder = driver.bot.recorder
    recorder.wait_for(lambda _: all(recorder.responses(n) for n in names), timeout=20, what="both answers")
    results = [text_of(recorder.responses(n)[0]) for n in names]

    promoted = [r for r in results if "promoted to stage 2/3" in r]
    refused = [r for r in results if "was not run" in r]
    assert len(promoted) == 1 and len(refused) == 1, results
    assert "moved on" in refused[0] or "in progress" in refused[0]
    stage_two_routes = [r for r in driver.applies()[before:] if manifest_weight(r) is not None]
    assert [manifest_weight(r) for r in stage_two_routes] == [50]  # the emulator got ONE stage apply
    active = load(driver.bot.runtime)
    assert active is not None and active.run.stage == 1
    forced = [e for e in latest(driver.bot.runtime, 10, action_prefix="canary.promote") if e.outcome == "ok"]
    assert len(forced) == 1 and "forced: hotfix window" in forced[0].detail and forced[0].actor == MANAGER


def test_force_needs_canary_force_and_a_reason(api: KubeApiServer, tmp_path: Path,
                                               driver_factory: MakeDriver) -> None:
    seed(api)
    driver: Driver = driver_factory(_bot_config(api, tmp_path), now_clock())
    driver.run(f"canary start {CANDIDATE}")

    no_reason = driver.run("canary promote --force", user=MANAGER)
    assert ephemeral(no_reason) and "needs a reason" in text_of(no_reason)
    deployer = driver.run('canary promote --force "trust me"', user=DEPLOYER)
    assert ephemeral(deployer) and "canary.force" in text_of(deployer)
    assert driver.route_weights()["node0-canary"] == 10
    denied = latest(driver.bot.runtime, 5, action_prefix="canary.force")
    assert denied and denied[0].actor == DEPLOYER and denied[0].outcome == "denied"

    plain = driver.run("canary promote", user=DEPLOYER)
    assert ephemeral(plain)
    text = text_of(plain)
    assert "has baked 0s of 1m; 1m left" in text  # the bake, and when it ends
    assert "UNKNOWN" in text  # no SLO evaluation yet is no evidence


def test_failed_apply_leaves_the_stage_and_traffic_as_they_were(api: KubeApiServer, tmp_path: Path,
                                                              driver_factory: MakeDriver) -> None:
    seed(api)
    driver: Driver = driver_factory(_bot_config(api, tmp_path), now_clock())
    driver.run(f"canary start {CANDIDATE}")
    api.fail("PATCH", "/httproutes/node0", status=500, times=1)  # the route (last document) fails once

    failed = driver.run('canary promote --force "test"', user=MANAGER)

    text = text_of(failed)
    assert "failed in the cluster: HTTPRoute/node0 was not applied" in text
    assert "put back" in text and "stays at stage 1" in text
    assert driver.route_weights() == {"node0": 90, "node0-canary": 10}
    assert driver.canary_deployment()["spec"]["replicas"] == 1  # the stage-2 scale-up was undone
    active = load(driver.bot.runtime)
    assert active is not None and active.run.stage == 0 and active.transition is None
    assert latest(driver.bot.runtime, 1, action_prefix="canary.promote")[0].outcome == "failed"

    again = driver.run('canary promote --force "test"', user=MANAGER)  # the claim was released
    assert "promoted to stage 2/3" in text_of(again)
    assert driver.route_weights() == {"node0": 50, "node0-canary": 50}


def test_state_survives_a_restart(api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed(api)
    config = _bot_config(api, tmp_path)
    clock = now_clock()
    with running_bot(slack_recorder, config=config, clock=clock) as first:
        Driver(bot=first, api=api).run(f"canary start {CANDIDATE}")
        started = load(first.runtime)
    assert started is not None
    clock.advance(seconds=20)
    with running_bot(slack_recorder, config=config, clock=clock) as second:
        status = text_of(Driver(bot=second, api=api, counter=100).run("canary status", user=VIEWER))
        assert "stage 1/3" in status and CANDIDATE in status
        assert "Baked 20s of 1m; 40s left" in status
        assert load(second.runtime) == started
        assert [h.event for h in history(second.runtime)] == ["start"]


def test_stage_manifests_are_well_formed() -> None:
    """Each stage file: capacity then traffic, the image placeholder, the weight the config says."""
    import yaml

    for name, weight, replicas in [("stage1-10pct", 10, 1), ("stage2-50pct", 50, 2), ("stage3-100pct", 100, 3)]:
        docs = [d for d in yaml.safe_load_all((CANARY_DIR / f"{name}.yaml").read_text()) if d]
        assert [d["kind"] for d in docs] == ["Deployment", "Service", "HTTPRoute"]
        assert docs[0]["spec"]["replicas"] == replicas
        assert docs[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "${CANARY_IMAGE}"
        refs = {r["name"]: r["weight"] for r in docs[2]["spec"]["rules"][0]["backendRefs"]}
        assert refs == {"node0": 100 - weight, "node0-canary": weight}
    stable = [d for d in yaml.safe_load_all((CANARY_DIR / "stable.yaml").read_text()) if d]
    assert [d["kind"] for d in stable] == ["HTTPRoute", "Deployment", "Service"]
    assert stable[1]["spec"]["replicas"] == 0


def test_abort_during_completion_puts_the_stable_image_back(api: KubeApiServer, tmp_path: Path,
                                                            driver_factory: MakeDriver) -> None:
    seed(api)
    driver: Driver = driver_factory(_bot_config(api, tmp_path), now_clock())
    driver.run(f"canary start {CANDIDATE}")
    for _ in range(2):
        driver.run('canary promote --force "drill"', user=MANAGER)
    pending = driver.run('canary promote --force "drill"', user=MANAGER)
    assert "rolling out" in text_of(pending)
    stable = api.get("apps", "deployments", NS, "node0") or {}
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == CANDIDATE

    aborted = driver.run("canary abort stable rollout looks wrong")

    assert "Canary aborted" in text_of(aborted), text_of(aborted)
    stable = api.get("apps", "deployments", NS, "node0") or {}
    images = {c["name"]: c["image"] for c in stable["spec"]["template"]["spec"]["containers"]}
    assert images == {"node0": STABLE, "proxy": "ghcr.io/bizra/envoy:1.30"}
    assert driver.route_weights() == {"node0": 100, "node0-canary": 0}
    assert load(driver.bot.runtime) is None


def test_start_refuses_the_image_that_is_already_stable(api: KubeApiServer, tmp_path: Path,
                                                        driver_factory: MakeDriver) -> None:
    seed(api)
    driver: Driver = driver_factory(_bot_config(api, tmp_path), now_clock())
    refused = driver.run(f"canary start {STABLE}")
    assert ephemeral(refused) and "already the stable version" in text_of(refused)
    assert driver.applies() == []
