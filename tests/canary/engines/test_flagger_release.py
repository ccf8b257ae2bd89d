"""A release with the Flagger engine, start → three stages → complete, against the SLO watch's real history.

Flagger is played by tests/support/flagger.py (its webhook calls in its scheduler's order, its
Canary status on the Kubernetes API emulator); the SLO watch evaluates a real Prometheus scraping
this test's synthetic NODE0, on the test clock (`run_once`, as the scheduler would). The bot answers
Flagger only from the promotion policy of commands/canary.py: each stage bakes from the moment
Flagger holds at its weight, with SLOs OK the whole stage, before `/bizra canary promote` grants the
next step; a sustained breach aborts the canary through Flagger's rollback hook.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.audit import AuditEntry, latest
from bot.features.canary.store import load
from bot.features.releases.history import last_stable
from commands.ports import FixedClock
from tests.canary.conftest import (
    CANDIDATE,
    DEPLOYER,
    MANAGER,
    NS,
    STABLE,
    VIEWER,
    Driver,
    MakeDriver,
    ephemeral,
    make_config,
    now_clock,
    text_of,
)
from tests.canary.test_canary_slo import P99, slo_config, tick_for, tick_until
from tests.support.flagger import FlaggerDriver
from tests.support.kube_api import KubeApiServer
from tests.support.node0_exporter import Node0Exporter
from tests.support.polling import wait_until
from tests.support.prometheus import PrometheusServer
from tests.support.shared_prometheus import Slot

TOKEN = "flagger-test-token"  # made up for tests


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZRA_FLAGGER_TOKEN", TOKEN)


@pytest.fixture
def metrics(node0_slot: Slot) -> tuple[PrometheusServer, Slot]:
    """The run's Prometheus and this test's own NODE0 on it, once every SLO can be computed."""
    node0_slot.prom.wait_for_value(node0_slot.scoped(P99.format(w="15m")), what="a first p99")
    node0_slot.prom.wait_for_value(node0_slot.scoped("sum(rate(node0_planner_outputs_total[15m]))"),
                                   lambda v: v > 0, what="planner rate")
    return node0_slot.prom, node0_slot


def _flagger(driver: Driver, api: KubeApiServer) -> FlaggerDriver:
    return FlaggerDriver(api, driver.bot.url, NS, image=STABLE, token=TOKEN).install()


def completions(driver: Driver) -> list[AuditEntry]:
    """The `canary.complete` rows that recorded a release (the run ends in the store just before its audit row)."""
    return [e for e in latest(driver.bot.runtime, 200, action_prefix="canary.complete") if e.outcome == "ok"]


def _tick(flagger: FlaggerDriver, driver: Driver, clock: FixedClock, *, seconds: int = 5) -> str:
    """One analysis interval of Flagger, with the SLO watch evaluating on the same clock."""
    tick_for(driver, clock, seconds=seconds)
    return flagger.tick()


def _held_at_stage_one(metrics: tuple[PrometheusServer, Slot], api: KubeApiServer, tmp_path: Path,
                       driver_factory: MakeDriver, clock: FixedClock) -> tuple[Driver, FlaggerDriver]:
    """A Flagger run at 10 %, waiting for the traffic increase. The SLO watch evaluates every second in real
    time, with 3 s bakes and a long sustain, so a breach blocks steps without an auto-rollback."""
    prom, slot = metrics
    config = make_config(api, tmp_path, engine="flagger", bake=[0.05, 0.05, 0.05],
                         slo=slo_config(prom.url, window="3s", sustain="10m", slot=slot, interval="1s"))
    driver = driver_factory(config, clock)
    flagger = _flagger(driver, api)
    flagger.set_image(CANDIDATE)
    flagger.tick()
    driver.run(f"canary start {CANDIDATE}")
    tick_until(driver, clock, lambda: True, what="a first evaluation")
    assert [flagger.tick() for _ in range(3)] == ["progressing", "weight-10", "waiting-for-traffic"]
    return driver, flagger


def test_flagger_release_goes_through_every_stage_and_completes(
        metrics: tuple[PrometheusServer, Slot], api: KubeApiServer, tmp_path: Path,
        driver_factory: MakeDriver) -> None:
    prom, slot = metrics
    clock = now_clock()
    config = make_config(api, tmp_path, engine="flagger",
                         slo=slo_config(prom.url, window="15m", sustain="10s", slot=slot))
    driver = driver_factory(config, clock)
    flagger = _flagger(driver, api)
    flagger.set_image(CANDIDATE)
    assert flagger.tick() == "waiting-for-rollout"
    assert "stage 1/3" in text_of(driver.run(f"canary start {CANDIDATE}"))
    assert _tick(flagger, driver, clock) == "progressing"
    assert _tick(flagger, driver, clock) == "weight-10"
    assert _tick(flagger, driver, clock) == "waiting-for-traffic"  # Flagger holds at 10%: stage 1's bake starts

    status = text_of(driver.run("canary status", user=VIEWER))
    assert "flagger" in status.lower() and "10%" in status, status
    early = driver.run("canary promote")  # 5 s into a 1-minute bake
    assert ephemeral(early) and "baked" in text_of(early) and "left" in text_of(early), text_of(early)
    assert _tick(flagger, driver, clock) == "waiting-for-traffic"
    assert "waiting for /bizra canary promote to stage 2 (50%)" in flagger.last("confirm-traffic-increase").text

    for number, weight, bake in ((2, 50, 60), (3, 100, 120)):
        tick_for(driver, clock, seconds=bake)
        promoted = text_of(driver.run("canary promote"))
        assert f"stage {number}/3" in promoted, promoted
        assert _tick(flagger, driver, clock) == f"weight-{weight}"
        assert flagger.last("confirm-traffic-increase").status == 200
        assert _tick(flagger, driver, clock) == "waiting-for-traffic"
        assert flagger.weight == weight
        refused = driver.run("canary promote")  # the new stage bakes from when Flagger got there
        assert ephemeral(refused), text_of(refused)

    tick_for(driver, clock, seconds=180)
    pending = text_of(driver.run("canary promote"))
    assert "Completing" in pending, pending
    # Flagger carries the promotion out; the bot records the release by itself when the Canary succeeds.
    assert "again" not in pending and "Succeeded" in pending and "nothing more to run" in pending, pending
    assert flagger.primary_image() == STABLE  # nothing is promoted until Flagger acts
    assert _tick(flagger, driver, clock) == "promoting"
    assert flagger.last("confirm-promotion").status == 200 and flagger.primary_image() == CANDIDATE
    assert _tick(flagger, driver, clock) == "finalising"
    assert _tick(flagger, driver, clock) == "succeeded"
    wait_until(lambda: completions(driver), what="the release recorded as complete")
    assert load(driver.bot.runtime) is None
    record = last_stable(driver.bot.runtime)
    assert record is not None and record.image == CANDIDATE
    completed = completions(driver)
    assert len(completed) == 1 and completed[0].actor == DEPLOYER  # who asked for it, once Flagger did it
    hooks = flagger.hooks()
    assert hooks.count("confirm-rollout") == 2 and "confirm-promotion" in hooks and "event" in hooks
    assert flagger.tick() == "idle"


def test_sustained_breach_rolls_back_through_the_rollback_hook(
        metrics: tuple[PrometheusServer, Slot], api: KubeApiServer, tmp_path: Path,
        driver_factory: MakeDriver) -> None:
    prom, slot = metrics
    node0: Node0Exporter = slot.exporter
    clock = now_clock()
    config = make_config(api, tmp_path, engine="flagger",
                         slo=slo_config(prom.url, window="3s", sustain="2s", slot=slot, interval="1s"))
    driver = driver_factory(config, clock)
    flagger = _flagger(driver, api)
    flagger.set_image(CANDIDATE)
    flagger.tick()
    driver.run(f"canary start {CANDIDATE}")
    assert [flagger.tick() for _ in range(3)] == ["progressing", "weight-10", "waiting-for-traffic"]
    assert flagger.last("rollback").status == 409

    node0.set(latency_seconds=0.003)
    prom.wait_for_value(slot.scoped(P99.format(w="3s")), lambda v: v > 0.0015, what="p99 over 1.5 ms")
    tick_until(driver, clock, lambda: load(driver.bot.runtime) is None, what="the auto-rollback")

    assert flagger.tick() == "rolled-back"
    assert "roll back" in flagger.last("rollback").text
    assert flagger.phase == "Failed" and flagger.weight == 0 and flagger.primary_image() == STABLE
    audit = latest(driver.bot.runtime, 10, action_prefix="canary.auto_rollback")
    assert len(audit) == 1 and audit[0].outcome == "ok" and "cb_latency_p99" in audit[0].detail


def test_a_granted_step_is_held_when_an_slo_breaches_before_flagger_takes_it(
        metrics: tuple[PrometheusServer, Slot], api: KubeApiServer, tmp_path: Path,
        driver_factory: MakeDriver) -> None:
    prom, slot = metrics
    node0: Node0Exporter = slot.exporter
    clock = now_clock()
    driver, flagger = _held_at_stage_one(metrics, api, tmp_path, driver_factory, clock)
    held_since = clock.now()
    tick_until(driver, clock, lambda: (clock.now() - held_since).total_seconds() >= 4, what="stage 1's 3 s bake")
    assert "stage 2/3" in text_of(driver.run("canary promote"))

    node0.set(latency_seconds=0.003)
    prom.wait_for_value(slot.scoped(P99.format(w="3s")), lambda v: v > 0.0015, what="p99 over 1.5 ms")
    tick_until(driver, clock, lambda: "BREACHING" in text_of(driver.run("canary status", user=VIEWER)),
               what="a breaching evaluation")
    assert flagger.tick() == "waiting-for-traffic"
    held = flagger.last("confirm-traffic-increase")
    assert held.status == 409 and "no longer holds" in held.text and "breached since the grant" in held.text
    assert flagger.weight == 10

    # The run is recorded at stage 2 while Flagger is held at stage 1: a forced promote carries Flagger through
    # the held step too, up to the stage the promote records, instead of granting a step Flagger never asks for.
    forced = text_of(driver.run('canary promote --force "latency probe is flaky"', user=MANAGER))
    assert "stage 3/3" in forced and "Forced" in forced, forced
    assert flagger.tick() == "weight-50"
    assert f"forced by {MANAGER}" in flagger.last("confirm-traffic-increase").text
    assert flagger.tick() == "weight-100"
    assert flagger.weight == 100


def test_a_forced_completion_is_carried_through_once_flagger_succeeds(
        metrics: tuple[PrometheusServer, Slot], api: KubeApiServer, tmp_path: Path,
        driver_factory: MakeDriver) -> None:
    prom, slot = metrics
    clock = now_clock()
    config = make_config(api, tmp_path, engine="flagger",
                         slo=slo_config(prom.url, window="15m", sustain="10s", slot=slot))
    driver = driver_factory(config, clock)
    flagger = _flagger(driver, api)
    flagger.set_image(CANDIDATE)
    flagger.tick()
    driver.run(f"canary start {CANDIDATE}")
    assert [_tick(flagger, driver, clock) for _ in range(3)] == ["progressing", "weight-10", "waiting-for-traffic"]
    for number, weight in ((2, 50), (3, 100)):  # forced through every stage, nowhere near the bake
        promoted = text_of(driver.run('canary promote --force "hotfix for INC-7"', user=MANAGER))
        assert f"stage {number}/3" in promoted and "Forced" in promoted, promoted
        assert _tick(flagger, driver, clock) == f"weight-{weight}"
        assert _tick(flagger, driver, clock) == "waiting-for-traffic"

    pending = text_of(driver.run('canary promote --force "hotfix for INC-7"', user=MANAGER))
    assert "Completing" in pending, pending
    assert _tick(flagger, driver, clock) == "promoting"
    assert flagger.last("confirm-promotion").status == 200
    assert "forced" in flagger.last("confirm-promotion").text
    assert [_tick(flagger, driver, clock) for _ in range(2)] == ["finalising", "succeeded"]
    # No second forced promote: the completion the release manager forced is recorded once Flagger promoted it.
    wait_until(lambda: completions(driver), what="the forced release recorded as complete")
    assert load(driver.bot.runtime) is None
    record = last_stable(driver.bot.runtime)
    assert record is not None and record.image == CANDIDATE
    completed = completions(driver)
    assert len(completed) == 1 and completed[0].actor == MANAGER, completed
    assert "forced: hotfix for INC-7" in completed[0].detail
    refused = [e for e in latest(driver.bot.runtime, 60) if e.action == "canary.promote" and e.outcome == "refused"]
    assert refused == []


def test_a_completion_held_by_a_breach_is_forced_through_by_a_forced_promote(
        metrics: tuple[PrometheusServer, Slot], api: KubeApiServer, tmp_path: Path,
        driver_factory: MakeDriver) -> None:
    prom, slot = metrics
    node0: Node0Exporter = slot.exporter
    clock = now_clock()
    driver, flagger = _held_at_stage_one(metrics, api, tmp_path, driver_factory, clock)

    def bake() -> None:  # real time: the SLO watch evaluates what Prometheus scraped up to now
        tick_until(driver, clock, lambda: "Promotable now" in text_of(driver.run("canary status", user=VIEWER)),
                   what="the stage baked with SLOs OK")

    for number, weight in ((2, 50), (3, 100)):
        bake()
        assert f"stage {number}/3" in text_of(driver.run("canary promote"))
        assert [flagger.tick() for _ in range(2)] == [f"weight-{weight}", "waiting-for-traffic"]
    bake()
    assert "Completing" in text_of(driver.run("canary promote"))  # granted by the policy

    node0.set(latency_seconds=0.003)
    prom.wait_for_value(slot.scoped(P99.format(w="3s")), lambda v: v > 0.0015, what="p99 over 1.5 ms")
    tick_until(driver, clock, lambda: "BREACHING" in text_of(driver.run("canary status", user=VIEWER)),
               what="a breaching evaluation")
    assert flagger.tick() == "waiting-for-traffic"
    held = flagger.last("confirm-traffic-increase")  # at the last step Flagger asks this before confirm-promotion
    assert held.status == 409 and "promotion was granted" in held.text and "no longer holds" in held.text, held

    forced = text_of(driver.run('canary promote --force "breach is a known probe artefact"', user=MANAGER))
    assert "Completing" in forced, forced
    assert flagger.tick() == "promoting"
    promotion = flagger.last("confirm-promotion")
    assert promotion.status == 200 and f"forced by {MANAGER}" in promotion.text, promotion
    assert [flagger.tick() for _ in range(2)] == ["finalising", "succeeded"]
    wait_until(lambda: completions(driver), what="the forced release recorded as complete")
    assert load(driver.bot.runtime) is None
    completed = completions(driver)
    assert len(completed) == 1 and completed[0].actor == MANAGER
    assert "forced: breach is a known probe artefact" in completed[0].detail
