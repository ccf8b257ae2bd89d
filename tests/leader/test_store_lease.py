"""`leader_election.backend: store`: the same election with the Lease kept in the shared store, on both
backends (SQLite and a real PostgreSQL): one winner of a race, a conditioned replace that loses gets
a conflict, failover after expiry, release on shutdown, and `bizra serve`'s runtime builds it."""

from __future__ import annotations

import threading

import pytest

from bot.assembly import build_runtime
from bot.core.config import BizraConfig, load_secrets
from bot.core.leadership import LeaseConflict, LeaseElector, claimed
from bot.core.store import Database
from bot.core.store_lease import StoreLease
from commands.ports import FixedClock
from tests.leader.conftest import SETTINGS


def elector(db: Database, identity: str, clock: FixedClock) -> LeaseElector:
    return LeaseElector(StoreLease(db, name="bizra-bot-leader"), identity=identity, settings=SETTINGS, clock=clock)


def test_a_store_lease_elects_one_leader_fails_over_and_is_released(any_store: Database, clock: FixedClock) -> None:
    alpha, beta = elector(any_store, "alpha", clock), elector(any_store, "beta", clock)
    assert alpha.step() and not beta.step()
    assert beta.leader() == "alpha"
    for _ in range(5):  # alpha renews; beta follows
        clock.advance(seconds=2)
        assert alpha.step() and not beta.step()
    # alpha dies: beta takes over once the lease has expired on its clock, not before.
    clock.advance(seconds=14)
    assert not beta.step()
    clock.advance(seconds=2)
    assert beta.step() and not alpha.is_leader()
    record = StoreLease(any_store, name="bizra-bot-leader").read_lease()
    assert record is not None and record.holder == "beta" and record.transitions == 1
    beta.stop()
    released = StoreLease(any_store, name="bizra-bot-leader").read_lease()
    assert released is not None and released.holder is None
    assert alpha.step()  # at once: no wait for the lease duration


def test_a_stale_replace_and_a_second_create_conflict(any_store: Database, clock: FixedClock) -> None:
    lease = StoreLease(any_store, name="race")
    first = lease.create_lease(claimed(None, identity="alpha", now=clock.now(), lease_duration=SETTINGS.lease_duration))
    with pytest.raises(LeaseConflict):
        lease.create_lease(first.model_copy(update={"holder": "beta"}))
    lease.replace_lease(claimed(first, identity="alpha", now=clock.now(), lease_duration=SETTINGS.lease_duration))
    with pytest.raises(LeaseConflict):  # `first` was read before that renewal
        lease.replace_lease(claimed(first, identity="beta", now=clock.now(), lease_duration=SETTINGS.lease_duration))
    record = lease.read_lease()
    assert record is not None and record.holder == "alpha" and record.resource_version == "2"


def test_electors_racing_on_the_store_never_both_lead(any_store: Database, clock: FixedClock) -> None:
    electors = [elector(any_store, f"replica-{index}", clock) for index in range(3)]
    for _ in range(5):
        barrier = threading.Barrier(len(electors))
        results: dict[str, bool] = {}

        def race(one: LeaseElector, barrier: threading.Barrier = barrier, results: dict[str, bool] = results) -> None:
            barrier.wait()
            results[one.identity] = one.step()

        threads = [threading.Thread(target=race, args=(one,)) for one in electors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(results.values()) == 1, results
        clock.advance(seconds=2)


def test_serve_builds_a_store_lease_when_configured(store_section: dict[str, str]) -> None:
    config = BizraConfig.model_validate({"store": store_section,
                                         "leader_election": {"enabled": True, "backend": "store"}})
    leadership = build_runtime(config, load_secrets()).leadership.get()
    assert isinstance(leadership, LeaseElector) and leadership.lease == "store/bizra-bot-leader"
    assert leadership.step()
