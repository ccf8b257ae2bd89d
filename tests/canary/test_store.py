"""The transition claim on both store backends: one winner across replicas, abandoned claims taken over."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from bot.assembly import build_runtime
from bot.core.config import BizraConfig, Secrets
from bot.core.runtime import Runtime
from bot.features.canary import store as store
from commands.canary import CanaryRun
from commands.ports import FixedClock

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
TIMEOUT = timedelta(minutes=5)


def replica(section: dict[str, str]) -> Runtime:
    """A bot process of its own (own connections, own pool) on the shared store, like a second replica."""
    config = BizraConfig.model_validate({"store": section})
    return build_runtime(config=config, secrets=Secrets(), clock=FixedClock(T0))


def started(runtime: Runtime) -> CanaryRun:
    run = CanaryRun(id="r1", image="ghcr.io/bizra/node0@sha256:" + "c" * 64, stage=0, stage_started_at=T0,
                    started_at=T0, started_by="U1", channel="C1")
    claim = store.claim_start(runtime, run, now=T0, timeout=TIMEOUT)
    assert claim.token is not None
    assert store.advance(runtime, claim.token, stage=0, stage_started_at=T0, event="started")
    return run


def test_two_replicas_claiming_at_once_get_one_claim(store_section: dict[str, str]) -> None:
    db = store_section
    started(replica(db))
    replicas = [replica(db) for _ in range(6)]
    barrier = threading.Barrier(len(replicas))
    claims: list[store.Claim] = []
    lock = threading.Lock()

    def promote(runtime: Runtime) -> None:
        barrier.wait()
        claim = store.claim(runtime, kind="promote", expected_stage=0, now=T0, timeout=TIMEOUT)
        with lock:
            claims.append(claim)

    threads = [threading.Thread(target=promote, args=(r,)) for r in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    winners = [c for c in claims if c.token]
    assert len(claims) == 6 and len(winners) == 1
    assert all("in progress" in (c.refusal or "") for c in claims if not c.token)


def test_the_stage_moves_only_for_the_claim_holder_and_stale_stages_are_refused(store_section: dict[str, str]) -> None:
    runtime = replica(store_section)
    started(runtime)
    claim = store.claim(runtime, kind="promote", expected_stage=0, now=T0, timeout=TIMEOUT)
    assert claim.token
    assert not store.advance(runtime, "someone-else", stage=1, stage_started_at=T0, event="x")
    assert store.advance(runtime, claim.token, stage=1, stage_started_at=T0 + timedelta(minutes=61), event="ok")
    late = store.claim(runtime, kind="promote", expected_stage=0, now=T0, timeout=TIMEOUT)
    assert late.token is None and "moved on" in (late.refusal or "")
    active = store.load(runtime)
    assert active is not None and active.run.stage == 1 and active.transition is None


def test_an_abandoned_claim_is_taken_over_after_the_timeout(store_section: dict[str, str]) -> None:
    runtime = replica(store_section)
    started(runtime)
    crashed = store.claim(runtime, kind="promote", expected_stage=0, now=T0, timeout=TIMEOUT)
    assert crashed.token  # …and the process died before finishing
    soon = store.claim(runtime, kind="abort", expected_stage=None, now=T0 + timedelta(minutes=1), timeout=TIMEOUT)
    assert soon.token is None
    later = store.claim(runtime, kind="abort", expected_stage=None, now=T0 + timedelta(minutes=6), timeout=TIMEOUT)
    assert later.token
    assert not store.end(runtime, crashed.token)  # the dead claim can no longer change anything
    assert store.end(runtime, later.token) and store.load(runtime) is None


def test_two_starts_at_once_record_one_canary(store_section: dict[str, str]) -> None:
    db = store_section
    replicas = [replica(db) for _ in range(4)]
    barrier = threading.Barrier(len(replicas))
    claims: list[store.Claim] = []
    lock = threading.Lock()

    def start(runtime: Runtime, n: int) -> None:
        run = CanaryRun(id=f"r{n}", image="ghcr.io/bizra/node0@sha256:" + "c" * 64, stage=0, stage_started_at=T0,
                        started_at=T0, started_by=f"U{n}", channel="C1")
        barrier.wait()
        claim = store.claim_start(runtime, run, now=T0, timeout=TIMEOUT)
        with lock:
            claims.append(claim)

    threads = [threading.Thread(target=start, args=(r, n)) for n, r in enumerate(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    winners = [c for c in claims if c.token]
    assert len(claims) == 4 and len(winners) == 1
    assert all("already starting" in (c.refusal or "") for c in claims if not c.token)
    active = store.load(replicas[0])
    assert active is not None and winners[0].run is not None and active.run.id == winners[0].run.id
