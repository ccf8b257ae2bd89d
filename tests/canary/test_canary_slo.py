"""The canary against the SLO watch: a real Prometheus scraping the synthetic NODE0 exporter.

The SLO watch's job body (`bot.slo_watch.run_once`) is called with the test clock's time, as the
scheduler would; the canary reads the evaluations it recorded. The run's one Prometheus serves every
test; each test's NODE0 is its own scrape job, which its SLO catalog selects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.audit import latest
from bot.features.canary.store import load
from bot.features.releases.history import last_stable
from bot.features.slo.watch import run_once
from commands.ports import FixedClock
from tests.canary.conftest import (
    CANDIDATE,
    NS,
    RELEASE_CHANNEL,
    VIEWER,
    Driver,
    MakeDriver,
    ephemeral,
    make_config,
    now_clock,
    posts,
    seed,
    text_of,
)
from tests.support.kube_api import KubeApiServer
from tests.support.node0_exporter import Node0Exporter
from tests.support.prometheus import PrometheusServer, free_port
from tests.support.shared_prometheus import Slot
from tests.support.slack import SlackRecorder

ON_CALL = "U_ONCALL"
P99 = "histogram_quantile(0.99, sum by (le) (rate(node0_cb_request_duration_seconds_bucket[{w}])))"


@pytest.fixture
def metrics(node0_slot: Slot) -> tuple[PrometheusServer, Slot]:
    """The run's Prometheus and this test's own NODE0 on it (its own scrape job; queries select it)."""
    # rate() needs two scrapes in its window: wait until every SLO can be computed.
    node0_slot.prom.wait_for_value(node0_slot.scoped(P99.format(w="15m")), what="a first p99")
    node0_slot.prom.wait_for_value(node0_slot.scoped("sum(rate(node0_planner_outputs_total[15m]))"),
                                   lambda v: v > 0, what="planner rate")
    return node0_slot.prom, node0_slot


@pytest.fixture
def node0(metrics: tuple[PrometheusServer, Slot]) -> Node0Exporter:
    return metrics[1].exporter


def slo_config(url: str, *, window: str, sustain: str, slot: Slot | None = None,
               interval: str = "5s") -> dict[str, Any]:
    config: dict[str, Any] = {
        "prometheus": {"url": url, "timeout_seconds": 3}, "window": window, "interval": interval,
        "sustain": sustain, "repage": "1h", "post_status": False, "on_call": {"users": [ON_CALL]}}
    if slot is not None:
        config["catalog"] = [slo.model_dump(mode="json") for slo in slot.catalog()]
    return config


def tick_for(driver: Driver, clock: FixedClock, *, seconds: int, every: int = 5) -> None:
    """The SLO watch's schedule, on the test clock: one evaluation every `every` seconds for `seconds`."""
    for _ in range(seconds // every):
        clock.advance(seconds=every)
        run_once(driver.bot.runtime, at=clock.now())


def tick_until(driver: Driver, clock: FixedClock, condition: Callable[[], Any], *, what: str,
               timeout: float = 30.0) -> None:
    """Evaluate at the real time (Prometheus has samples only up to now) until `condition` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        clock.set(datetime.now(UTC))
        run_once(driver.bot.runtime, at=clock.now())
        if condition():
            return
        time.sleep(0.25)  # the next evaluation needs a later scrape; polling with a deadline
    raise AssertionError(f"timed out waiting for {what}")


def test_release_goes_through_every_stage_and_completes(
        metrics: tuple[PrometheusServer, Slot], api: KubeApiServer, tmp_path: Path,
        driver_factory: MakeDriver) -> None:
    prom, slot = metrics
    seed(api)
    clock = now_clock()
    # A 15-minute rate window: evaluations up to a few test-clock minutes ahead still see the real samples.
    config = make_config(api, tmp_path, slo=slo_config(prom.url, window="15m", sustain="10s", slot=slot))
    driver = driver_factory(config, clock)

    assert "stage 1/3" in text_of(driver.run(f"canary start {CANDIDATE}"))
    api.roll_out(NS, "node0-canary")
    status = text_of(driver.run("canary status", user=VIEWER))
    assert "10% of traffic" in status and CANDIDATE in status and "Canary pods ready: 1/1" in status
    assert "1m left" in status

    tick_for(driver, clock, seconds=30)
    early = driver.run("canary promote")
    assert ephemeral(early)
    assert "baked 30s of 1m; 30s left" in text_of(early)
    assert "becomes possible at" in text_of(early)

    tick_for(driver, clock, seconds=30)
    status = text_of(driver.run("canary status", user=VIEWER))
    assert "now OK" in status and "no breach" in status and "Promotable now" in status
    assert "promoted to stage 2/3" in text_of(driver.run("canary promote"))
    assert driver.route_weights() == {"node0": 50, "node0-canary": 50}
    api.roll_out(NS, "node0-canary")

    tick_for(driver, clock, seconds=120)
    assert "promoted to stage 3/3" in text_of(driver.run("canary promote"))
    assert driver.route_weights() == {"node0": 0, "node0-canary": 100}
    api.roll_out(NS, "node0-canary")

    tick_for(driver, clock, seconds=180)
    pending = text_of(driver.run("canary promote"))
    assert "rolling out" in pending  # the stable Deployment has the image; traffic waits for its rollout
    stable = api.get("apps", "deployments", NS, "node0") or {}
    containers = {c["name"]: c["image"] for c in stable["spec"]["template"]["spec"]["containers"]}
    assert containers == {"node0": CANDIDATE, "proxy": "ghcr.io/bizra/envoy:1.30"}  # sidecar untouched
    assert driver.route_weights() == {"node0": 0, "node0-canary": 100}

    api.roll_out(NS, "node0")  # the deployment controller finishes the stable rollout
    done = text_of(driver.run("canary promote"))
    assert "Release complete" in done
    assert driver.route_weights() == {"node0": 100, "node0-canary": 0}
    assert driver.canary_deployment()["spec"]["replicas"] == 0
    record = last_stable(driver.bot.runtime)
    assert record is not None and record.image == CANDIDATE
    annotations = (api.get("apps", "deployments", NS, "node0") or {})["metadata"]["annotations"]
    assert annotations["flagger.app/last-stable-revision"] == CANDIDATE
    assert load(driver.bot.runtime) is None
    actions = [(e.action, e.outcome) for e in reversed(latest(driver.bot.runtime, 20, action_prefix="canary."))]
    assert actions == [("canary.start", "ok"), ("canary.promote", "refused"), ("canary.promote", "ok"),
                       ("canary.promote", "ok"), ("canary.complete", "pending"), ("canary.complete", "ok")]
    thread = posts(driver.bot.recorder)
    assert "Canary started" in text_of(thread[0])
    assert all(p.body.get("thread_ts") for p in thread[1:]) and "Release complete" in text_of(thread[-1])


def test_promote_refused_while_an_slo_breaches(
        metrics: tuple[PrometheusServer, Slot], node0: Node0Exporter, api: KubeApiServer, tmp_path: Path,
        driver_factory: MakeDriver) -> None:
    prom, slot = metrics
    seed(api)
    clock = now_clock()
    # Sustain long: a breaching evaluation without a page (nor an auto-rollback) in this test.
    config = make_config(api, tmp_path, slo=slo_config(prom.url, window="3s", sustain="10m", slot=slot),
                         bake=[0.01, 1, 1])
    driver = driver_factory(config, clock)
    driver.run(f"canary start {CANDIDATE}")
    api.roll_out(NS, "node0-canary")

    node0.set(latency_seconds=0.003)
    prom.wait_for_value(slot.scoped(P99.format(w="3s")), lambda v: v > 0.0015, what="p99 over 1.5 ms")
    tick_until(driver, clock, lambda: True, what="one breaching evaluation")

    refused = driver.run("canary promote")
    assert ephemeral(refused)
    text = text_of(refused)
    assert "An SLO breached during this stage" in text and "cb_latency_p99 BREACHING" in text
    assert "Waiting alone will not make this stage promotable" in text
    assert driver.route_weights()["node0-canary"] == 10


def test_promote_refused_while_slos_are_unknown(api: KubeApiServer, tmp_path: Path,
                                                driver_factory: MakeDriver) -> None:
    seed(api)
    clock = now_clock()
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens: every SLO is UNKNOWN
    config = make_config(api, tmp_path, slo=slo_config(nowhere, window="5m", sustain="10s"))
    driver = driver_factory(config, clock)
    driver.run(f"canary start {CANDIDATE}")
    api.roll_out(NS, "node0-canary")

    tick_for(driver, clock, seconds=60)
    refused = driver.run("canary promote")

    assert ephemeral(refused)
    text = text_of(refused)
    assert "The SLO state was UNKNOWN for 1m" in text and "missing metrics are not healthy" in text
    assert "baked" not in text  # the bake itself is done; only the evidence is missing
    assert driver.route_weights()["node0-canary"] == 10


def test_sustained_breach_in_stage_one_rolls_the_canary_back_and_pages(
        metrics: tuple[PrometheusServer, Slot], node0: Node0Exporter, api: KubeApiServer, tmp_path: Path,
        driver_factory: MakeDriver, slack_recorder: SlackRecorder) -> None:
    prom, slot = metrics
    seed(api)
    clock = now_clock()
    # Evaluated every second (one evaluation per interval counts), so the 2 s sustain is reached in ~2 s.
    config = make_config(api, tmp_path, slo=slo_config(prom.url, window="3s", sustain="2s", slot=slot,
                                                       interval="1s"))
    driver = driver_factory(config, clock)
    driver.run(f"canary start {CANDIDATE}")
    api.roll_out(NS, "node0-canary")
    assert driver.route_weights()["node0-canary"] == 10

    node0.set(latency_seconds=0.003)
    prom.wait_for_value(slot.scoped(P99.format(w="3s")), lambda v: v > 0.0015, what="p99 over 1.5 ms")
    tick_until(driver, clock, lambda: load(driver.bot.runtime) is None, what="the auto-rollback")

    assert driver.route_weights() == {"node0": 100, "node0-canary": 0}
    assert driver.canary_deployment()["spec"]["replicas"] == 0
    audit = latest(driver.bot.runtime, 5, action_prefix="canary.auto_rollback")
    assert len(audit) == 1 and audit[0].outcome == "ok" and audit[0].actor == "bizra-bot (auto-rollback)"
    assert "cb_latency_p99" in audit[0].detail
    pages = [p for p in posts(slack_recorder, RELEASE_CHANNEL) if "Auto-rollback" in text_of(p)]
    assert any(not p.body.get("thread_ts") and f"<@{ON_CALL}>" in text_of(p) for p in pages)  # the page
    assert any(p.body.get("thread_ts") for p in pages)  # and the record in the canary's thread
    # Later evaluations of the same breach change nothing more.
    tick_until(driver, clock, lambda: True, what="one more evaluation")
    assert len(latest(driver.bot.runtime, 5, action_prefix="canary.auto_rollback")) == 1
