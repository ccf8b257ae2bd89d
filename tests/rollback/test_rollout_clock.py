"""Following the rollout runs on the injected clock: time to recovery and the deadline are exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.adapters.kubernetes import KubernetesCluster
from commands.ports import FixedClock
from commands.rollback import RollbackOutcome, RollbackPlan, RolloutProgress, execute_rollback
from tests.rollback.conftest import BAD, GOOD, NS, seed
from tests.support.kube_api import KubeApiServer

START = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def _plan(requested_at: datetime) -> RollbackPlan:
    return RollbackPlan(id="p1", namespace=NS, deployment="node0", container="node0", current_image=BAD,
                        target_image=GOOD, source="deployment annotation", source_detail="test", reason="test",
                        requested_by="U1", channel="C1", requested_at=requested_at,
                        expires_at=requested_at + timedelta(minutes=10))


def test_time_to_recovery_counts_from_the_command(api: KubeApiServer) -> None:
    seed(api)
    clock = FixedClock(START + timedelta(seconds=90))  # confirmed 90 s after the command
    cluster = KubernetesCluster(api.configuration())
    seen: list[RolloutProgress] = []

    def wait(seconds: float) -> None:
        # Each poll interval is 5 s of the injected clock; the controller finishes 40 s in.
        clock.advance(seconds=seconds)
        if clock.now() >= START + timedelta(seconds=130):
            api.roll_out(NS, "node0")

    result = execute_rollback(cluster=cluster, clock=clock, plan=_plan(START), confirmed_by="U2",
                              deadline_seconds=300, poll_seconds=5, wait=wait, on_progress=seen.append)
    assert result.outcome is RollbackOutcome.RECOVERED
    assert result.time_to_recovery_seconds == 130
    assert result.rollout_seconds == 40
    assert [p.observed_generation >= p.generation for p in seen] == [False, True]


def test_the_deadline_is_on_the_clock(api: KubeApiServer) -> None:
    seed(api)
    clock = FixedClock(START)
    polls: list[datetime] = []

    def wait(seconds: float) -> None:
        polls.append(clock.now())
        clock.advance(seconds=seconds)

    result = execute_rollback(cluster=KubernetesCluster(api.configuration()), clock=clock, plan=_plan(START),
                              confirmed_by="U2", deadline_seconds=300, poll_seconds=30, wait=wait,
                              on_progress=lambda point: None)
    assert result.outcome is RollbackOutcome.TIMED_OUT
    assert result.time_to_recovery_seconds is None
    assert len(polls) == 10 and result.finished_at == START + timedelta(seconds=300)
