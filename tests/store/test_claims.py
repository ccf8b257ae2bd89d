"""The features' own claims, through their own store code, on both backends: replicas (separate runtimes,
each with its own connections or pool) racing from threads; exactly one wins every time.

Rollback confirmations (decided once; a lost owner taken over once), evidence archives and SLO digests
(claimed once), the Slack replay guard (a body runs once), and the audit log (ids, reads, retention).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.assembly import build_runtime
from bot.core import audit
from bot.core.config import BizraConfig, Secrets
from bot.core.runtime import Runtime
from bot.features.evidence import store as evidence
from bot.features.rollback import confirmations
from bot.features.rollback.confirmations import ConfirmationState
from bot.surfaces.slack_app import ReplayGuard
from commands.ports import FixedClock
from commands.rollback import RollbackPlan

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
REPLICAS = 6


def _replicas(section: dict[str, str], count: int = REPLICAS, *, surface: str = "console") -> list[Runtime]:
    config = BizraConfig.model_validate({"store": section, "slo": {"enabled": False}})
    return [build_runtime(config, Secrets(), clock=FixedClock(T0), surface=surface) for _ in range(count)]


def _race(runtimes: list[Runtime], body: Callable[[Runtime], object]) -> list[object]:
    barrier = threading.Barrier(len(runtimes))
    results: list[object] = [None] * len(runtimes)

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = body(runtimes[n])
        except Exception as exc:  # an error is an answer the assertions below show
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(runtimes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def _plan(plan_id: str) -> RollbackPlan:
    return RollbackPlan(id=plan_id, namespace="node0", deployment="node0", container="node0",
                        current_image="ghcr.io/bizra/node0@sha256:" + "b" * 64,
                        target_image="ghcr.io/bizra/node0@sha256:" + "a" * 64, source="release history",
                        source_detail="#1", reason="test", requested_by="U1", channel="C1",
                        requested_at=T0, expires_at=T0 + timedelta(minutes=10))


def test_a_rollback_confirmation_is_decided_once_and_taken_over_once(store_section: dict[str, str]) -> None:
    replicas = _replicas(store_section)
    confirmations.save(replicas[0], _plan("rb-race"))

    claims = _race(replicas, lambda runtime: confirmations.decide(runtime, "rb-race", user="U1",
                                                                  to=ConfirmationState.RUNNING))
    winners = [claim for claim in claims if isinstance(claim, confirmations.Claim) and claim.refusal is None]
    assert len(winners) == 1, claims
    assert all(isinstance(c, confirmations.Claim) and "already being executed" in (c.refusal or "")
               for c in claims if c is not winners[0])
    assert confirmations.state_of(replicas[0], "rb-race") == ConfirmationState.RUNNING

    # Its owner goes silent: the replicas' recovery finds it stale, and one of them takes it over.
    later = T0 + timedelta(minutes=5)
    assert confirmations.stale(replicas[0], now=later, timeout_seconds=60) == ["rb-race"]
    takeovers = _race(replicas, lambda runtime: confirmations.take_over(runtime, "rb-race", now=later,
                                                                        timeout_seconds=60))
    taken = [t for t in takeovers if isinstance(t, confirmations.Takeover)]
    assert len(taken) == 1 and takeovers.count(None) == len(replicas) - 1, takeovers
    assert taken[0].lease.claim_no == winners[0].lease.claim_no + 1  # type: ignore[union-attr]
    assert confirmations.current_lease(replicas[0], "rb-race") == taken[0].lease


def test_an_evidence_archive_is_claimed_once(store_section: dict[str, str]) -> None:
    replicas = _replicas(store_section)
    results = _race(replicas, lambda runtime: evidence.claim(runtime, "cn-1.completed", canary_id="cn-1",
                                                             trigger="completed", at=T0))
    assert results.count(True) == 1 and results.count(False) == len(replicas) - 1, results
    evidence.remember_thread(replicas[0], "cn-1", channel="C1", thread_ts="1.1")
    evidence.remember_thread(replicas[1], "cn-1", channel="C2", thread_ts="2.2")  # the upsert: the last one wins
    row = replicas[2].store.get().connect().execute(
        "SELECT channel, thread_ts FROM evidence_threads WHERE canary_id = ?", ("cn-1",)).fetchone()
    assert tuple(row) == ("C2", "2.2")


def test_a_signed_slack_body_runs_once_across_replicas(store_section: dict[str, str]) -> None:
    replicas = _replicas(store_section, surface="slack")
    guards = [ReplayGuard(runtime) for runtime in replicas]
    results = _race(replicas, lambda runtime: guards[replicas.index(runtime)].seen(
        body="token=x&command=/bizra&text=status", signature="v0=abc", now=1e9))
    assert results.count(False) == 1 and results.count(True) == len(replicas) - 1, results


def test_the_audit_log_numbers_reads_and_prunes_on_both_backends(store_section: dict[str, str]) -> None:
    [runtime] = _replicas(store_section, 1)
    clock = runtime.clock
    assert isinstance(clock, FixedClock)
    ids = []
    for day in range(5):
        clock.set(T0 + timedelta(days=day))
        ids.append(audit.record(runtime, actor="U1", channel="C1", action=f"canary.step{day}", target="node0",
                                before={"stage": day}, after={"stage": day + 1}, outcome="ok"))
    assert ids == sorted(ids) and len(set(ids)) == 5
    newest = audit.latest(runtime, 2)
    assert [entry.action for entry in newest] == ["canary.step4", "canary.step3"]
    assert newest[0].after == '{"stage": 5}'
    assert [e.action for e in audit.latest(runtime, 10, action_prefix="canary.step1")] == ["canary.step1"]
    assert len(audit.latest(runtime, 10, since=T0 + timedelta(days=3))) == 2
    pruned = audit.prune(runtime, before=T0 + timedelta(days=2), batch_rows=100)
    assert pruned.deleted == 2
    assert [e.action for e in audit.latest(runtime, 10)] == ["canary.step4", "canary.step3", "canary.step2"]
