"""The scheduler runs leader-only jobs on the elected leader only, every replica runs the jobs marked
for every replica, a replica losing its renewals stops its jobs before another may start them, and a
new leader runs its jobs at once instead of at their next interval."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.assembly import build_registry
from bot.core.config import BizraConfig, load_secrets
from bot.core.leadership import LeaseElector
from bot.core.runtime import Job, Registry, Runtime
from bot.surfaces.scheduler import start_scheduler, tick
from commands.ports import FixedClock
from tests.leader.conftest import LEASE, MakeElector
from tests.support.kube_api import KubeApiServer
from tests.support.polling import wait_until


def runtime_for(elector: LeaseElector, clock: FixedClock) -> Runtime:
    runtime = Runtime(config=BizraConfig(), secrets=load_secrets(), clock=clock, surface="console",
                      registry=Registry())
    runtime.leadership.set(elector)
    return runtime


class Counter:
    def __init__(self) -> None:
        self.runs: list[datetime] = []

    def __call__(self, runtime: Runtime, at: datetime) -> None:
        self.runs.append(at)


@pytest.fixture(autouse=True)
def _no_kubernetes_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    yield


def test_leader_only_jobs_run_on_the_leader_and_the_heartbeat_everywhere(elector: MakeElector,
                                                                         clock: FixedClock) -> None:
    alpha, beta = elector("alpha"), elector("beta")
    alpha.step(), beta.step()
    watch_runs = {"alpha": Counter(), "beta": Counter()}
    beat_runs = {"alpha": Counter(), "beta": Counter()}
    for name, one in (("alpha", alpha), ("beta", beta)):
        runtime = runtime_for(one, clock)
        tick(runtime, Job(name="slo-watch", body=watch_runs[name], interval=lambda config: 60))
        tick(runtime, Job(name="heartbeat", body=beat_runs[name], interval=lambda config: 10, leader_only=False))
    assert len(watch_runs["alpha"].runs) == 1 and not watch_runs["beta"].runs
    assert len(beat_runs["alpha"].runs) == 1 and len(beat_runs["beta"].runs) == 1


def test_every_registered_job_but_the_heartbeat_is_leader_only() -> None:
    jobs = {job.name: job.leader_only for job in build_registry().jobs}
    assert {"slo-watch", "outbox", "rollback-recovery", "slo-digest", "home-refresh"} <= set(jobs)
    assert {name for name, leader_only in jobs.items() if not leader_only} == {"replica-heartbeat"}


def test_jobs_stop_on_the_old_leader_before_they_start_on_the_new_one(api: KubeApiServer, elector: MakeElector,
                                                                     clock: FixedClock) -> None:
    alpha, beta = elector("alpha"), elector("beta")
    alpha.step(), beta.step()
    runs = {"alpha": Counter(), "beta": Counter()}
    runtimes = {"alpha": runtime_for(alpha, clock), "beta": runtime_for(beta, clock)}
    api.fail("PUT", f"/leases/{LEASE}", status=500, times=1000, client="bizra-bot/alpha")
    for _ in range(15):  # 30 s in retry periods; the watch ticks every period on both replicas
        clock.advance(seconds=2)
        alpha.step(), beta.step()
        for name, runtime in runtimes.items():
            tick(runtime, Job(name="slo-watch", body=runs[name], interval=lambda config: 2))
    last_on_alpha, first_on_beta = max(runs["alpha"].runs), min(runs["beta"].runs)
    lease_expiry = datetime.fromisoformat("2026-12-02T09:00:15+00:00")  # alpha renewed last at 09:00:00
    assert last_on_alpha < lease_expiry <= first_on_beta
    assert len(runs["alpha"].runs) == 4 and len(runs["beta"].runs) == 8


def test_a_job_body_sees_leadership_end_before_it_pages(api: KubeApiServer, elector: MakeElector,
                                                        clock: FixedClock) -> None:
    alpha = elector("alpha")
    alpha.step()
    api.fail("PUT", f"/leases/{LEASE}", status=500, times=1000)
    pages: list[str] = []

    def watch(runtime: Runtime, at: datetime) -> None:
        clock.advance(seconds=11)  # a slow evaluation: the renew deadline passes while it runs
        alpha.step()  # the election thread's round meanwhile (its renewal fails)
        if runtime.still_leader():
            pages.append("page")

    tick(runtime_for(alpha, clock), Job(name="slo-watch", body=watch, interval=lambda config: 60))
    assert pages == []


def test_a_new_leader_runs_its_jobs_at_once_not_at_the_next_interval(elector: MakeElector,
                                                                     clock: FixedClock) -> None:
    alpha, beta = elector("alpha"), elector("beta")
    alpha.step(), beta.step()
    runtime = runtime_for(beta, clock)
    runtime.config = BizraConfig.model_validate({"leader_election": {"retry_period": 1}})
    hourly = Counter()
    runtime.registry.add_job(Job(name="hourly", body=hourly, interval=lambda config: 3600))
    scheduler = start_scheduler(runtime)
    assert scheduler is not None
    try:
        # The first run came and went (skipped: beta follows); the next one is an hour away.
        wait_until(lambda: scheduler.get_job("hourly").next_run_time > datetime.now(UTC) + timedelta(minutes=30),
                   what="the first run of the hourly job to pass")
        assert not hourly.runs
        alpha.stop()  # alpha shuts down and releases the lease; beta takes it at its next round
        assert beta.step()
        wait_until(lambda: hourly.runs, timeout=10, what="the hourly job to run on the new leader")
    finally:
        scheduler.stop(timeout=10)
