"""Leader election on a coordination.k8s.io/v1 Lease: acquire, renew, take over after expiry, one
winner of a race, leadership lost before the lease expires when renewals fail, release on shutdown.

Every elector talks to the Kubernetes API emulator through the real adapter over HTTP; time is the
injected clock, moved by the test one retry period at a time (no sleeps)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from bot.adapters.lease import KubeLease
from bot.core.leadership import LeaseConflict, LeaseElector, claimed
from commands.ports import FixedClock, SystemClock
from tests.leader.conftest import LEASE, NS, SETTINGS, T0, MakeElector
from tests.support.kube_api import KubeApiServer
from tests.support.polling import wait_until


def stored(api: KubeApiServer) -> dict:
    lease = api.get("coordination.k8s.io", "leases", NS, LEASE)
    assert lease is not None, "no Lease was written"
    return lease


def test_the_first_replica_creates_the_lease_and_holds_it(api: KubeApiServer, elector: MakeElector) -> None:
    alpha = elector("bizra-bot-alpha")
    assert not alpha.is_leader()
    assert alpha.step() is True
    assert alpha.is_leader() and alpha.leader() == "bizra-bot-alpha"
    spec = stored(api)["spec"]
    assert spec["holderIdentity"] == "bizra-bot-alpha"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["acquireTime"] == spec["renewTime"] == "2026-12-02T09:00:00.000000Z"
    assert spec["leaseTransitions"] == 0
    assert api.calls("POST", "/apis/coordination.k8s.io/v1/namespaces/bizra-bot/leases")


def test_the_leader_renews_every_round_and_keeps_its_acquire_time(api: KubeApiServer, elector: MakeElector,
                                                                 clock: FixedClock) -> None:
    alpha = elector("alpha")
    alpha.step()
    first_version = stored(api)["metadata"]["resourceVersion"]
    for _ in range(10):  # 20 s: longer than the lease itself, so only renewals keep it
        clock.advance(seconds=2)
        assert alpha.step()
    lease = stored(api)
    assert lease["spec"]["renewTime"] == "2026-12-02T09:00:20.000000Z"
    assert lease["spec"]["acquireTime"] == "2026-12-02T09:00:00.000000Z"
    assert lease["spec"]["leaseTransitions"] == 0
    assert lease["metadata"]["resourceVersion"] != first_version
    # Every renewal is a replace conditioned on the version just read.
    puts = api.calls("PUT", f"/leases/{LEASE}")
    assert len(puts) == 10 and all(call.body["metadata"]["resourceVersion"] for call in puts)


def test_a_follower_waits_for_a_valid_lease_then_takes_over_after_expiry(api: KubeApiServer, elector: MakeElector,
                                                                        clock: FixedClock) -> None:
    alpha, beta = elector("alpha"), elector("beta")
    alpha.step()
    assert beta.step() is False and beta.leader() == "alpha"
    # alpha dies (no more renewals). beta counts the lease duration from when it saw the last renewal.
    for _ in range(7):
        clock.advance(seconds=2)
        assert beta.step() is False, f"beta took over a lease that was still valid at {clock.now()}"
    clock.advance(seconds=2)  # 16 s after the last renewal beta saw
    assert beta.step() is True
    spec = stored(api)["spec"]
    assert spec["holderIdentity"] == "beta"
    assert spec["leaseTransitions"] == 1
    assert spec["acquireTime"] == (T0 + timedelta(seconds=16)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert not alpha.is_leader()  # its renew deadline passed long ago


def test_a_stale_write_gets_409_and_the_loser_follows(api: KubeApiServer, elector: MakeElector,
                                                      lease_for: Callable[[], KubeLease], clock: FixedClock) -> None:
    # Both replicas read the expired lease of a dead pod; beta writes first.
    dead = elector("dead")
    dead.step()
    alpha, beta = elector("alpha"), elector("beta")
    alpha.step(), beta.step()
    clock.advance(seconds=16)
    seen_by_alpha = lease_for().read_lease()
    assert beta.step() is True
    with pytest.raises(LeaseConflict):
        lease_for().replace_lease(claimed(seen_by_alpha, identity="alpha", now=clock.now(),
                                    lease_duration=SETTINGS.lease_duration))
    assert stored(api)["spec"]["holderIdentity"] == "beta"
    assert alpha.step() is False and alpha.leader() == "beta"


def test_a_second_create_of_the_lease_conflicts(lease_for: Callable[[], KubeLease], clock: FixedClock) -> None:
    wanted = claimed(None, identity="alpha", now=clock.now(), lease_duration=SETTINGS.lease_duration)
    lease_for().create_lease(wanted)
    with pytest.raises(LeaseConflict):
        lease_for().create_lease(wanted.model_copy(update={"holder": "beta"}))


def test_three_electors_racing_round_after_round_never_both_lead(api: KubeApiServer, elector: MakeElector,
                                                                 clock: FixedClock) -> None:
    electors = [elector(f"replica-{index}") for index in range(3)]
    first_leaders: list[str] = []

    def race_once() -> list[str]:
        barrier = threading.Barrier(len(electors))
        results: dict[str, bool] = {}

        def race(one: LeaseElector) -> None:
            barrier.wait()
            results[one.identity] = one.step()

        threads = [threading.Thread(target=race, args=(one,)) for one in electors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        leaders = [name for name, leading in results.items() if leading]
        assert [one.identity for one in electors if one.is_leader()] == leaders
        return leaders

    for _ in range(6):
        leaders = race_once()
        assert len(leaders) == 1, f"leaders {leaders} at {clock.now()}"
        assert stored(api)["spec"]["holderIdentity"] == leaders[0]
        first_leaders.append(leaders[0])
        clock.advance(seconds=2)
    assert len(set(first_leaders)) == 1
    # The leader dies; the two others race for the lease once it has expired on their clocks.
    electors = [one for one in electors if one.identity != first_leaders[0]]
    seen = []
    for _ in range(12):
        leaders = race_once()
        assert len(leaders) <= 1, f"leaders {leaders} at {clock.now()}"
        seen.append(leaders)
        clock.advance(seconds=2)
    successor = seen[-1]
    assert len(successor) == 1 and all(leaders in ([], successor) for leaders in seen)
    assert stored(api)["spec"]["holderIdentity"] == successor[0]
    assert stored(api)["spec"]["leaseTransitions"] == 1


@pytest.mark.parametrize(("method", "status"), [("PUT", 500), ("*", 503)], ids=["renewals-fail", "cut-off"])
def test_failing_renewals_end_leadership_before_anyone_may_take_over(api: KubeApiServer, elector: MakeElector,
                                                                     clock: FixedClock, method: str,
                                                                     status: int) -> None:
    alpha, beta = elector("alpha"), elector("beta")
    alpha.step(), beta.step()
    # From now on the API server refuses alpha's renewals (or every request of alpha's); beta is served.
    api.fail(method, f"/leases/{LEASE}", status=status, times=1000, client="bizra-bot/alpha")
    timeline = []
    for second in range(2, 31, 2):
        clock.advance(seconds=2)
        alpha.step()
        beta.step()
        timeline.append((second, alpha.is_leader(), beta.is_leader()))
        assert not (alpha.is_leader() and beta.is_leader()), f"two leaders at +{second}s"
    alpha_led = [second for second, leading, _ in timeline if leading]
    beta_led = [second for second, _, leading in timeline if leading]
    # alpha renewed last at +0 s: it leads while under its 10 s renew deadline; beta only once the 15 s
    # lease has expired on its clock, so there is a gap with no leader and never two.
    assert alpha_led == [2, 4, 6, 8]
    assert beta_led == list(range(16, 31, 2))
    assert stored(api)["spec"]["holderIdentity"] == "beta"


def test_leadership_ends_on_time_while_a_renewal_hangs(api: KubeApiServer, elector: MakeElector,
                                                       clock: FixedClock) -> None:
    alpha = elector("alpha")
    alpha.step()
    clock.advance(seconds=8)
    api.slow("PUT", f"/leases/{LEASE}", seconds=1.0)  # the API server answers the renewal late
    renewing = threading.Thread(target=alpha.step)
    renewing.start()
    wait_until(lambda: api.calls("PUT", f"/leases/{LEASE}"), what="the renewal to reach the API server")
    clock.advance(seconds=2)  # +10 s since the last renewal, and the new one has not come back
    assert not alpha.is_leader()
    renewing.join()
    # The renewal did succeed in the end; it began at +8 s, so alpha leads until +18 s.
    assert alpha.is_leader()


def test_release_on_shutdown_lets_the_next_replica_take_over_at_once(api: KubeApiServer, elector: MakeElector,
                                                                      clock: FixedClock) -> None:
    alpha, beta = elector("alpha"), elector("beta")
    alpha.step(), beta.step()
    clock.advance(seconds=1)
    alpha.stop()
    assert not alpha.is_leader()
    spec = stored(api)["spec"]
    assert "holderIdentity" not in spec and spec["leaseDurationSeconds"] == 1
    assert beta.step() is True  # no wait for the lease duration
    assert stored(api)["spec"]["leaseTransitions"] == 1


def test_a_follower_does_not_release_the_leaders_lease(api: KubeApiServer, elector: MakeElector) -> None:
    alpha, beta = elector("alpha"), elector("beta")
    alpha.step(), beta.step()
    beta.stop()
    assert stored(api)["spec"]["holderIdentity"] == "alpha"


def test_the_election_thread_acquires_and_releases_on_the_wall_clock(lease_for: Callable[[], KubeLease],
                                                                     api: KubeApiServer) -> None:
    quick = SETTINGS.model_copy(update={"lease_duration": timedelta(seconds=3), "renew_deadline": timedelta(seconds=2),
                                        "retry_period": timedelta(seconds=0.2)})
    alpha = LeaseElector(lease_for(), identity="alpha", settings=quick, clock=SystemClock())
    alpha.start()
    try:
        wait_until(alpha.is_leader, what="the election thread to acquire the lease")
        wait_until(lambda: len(api.calls("PUT", f"/leases/{LEASE}")) >= 2, what="two renewals")
    finally:
        alpha.stop()
    assert not alpha.is_leader()
    assert "holderIdentity" not in stored(api)["spec"]


def test_a_dead_leader_is_named_until_its_lease_expires_then_nobody(elector: MakeElector, clock: FixedClock) -> None:
    alpha, beta = elector("alpha"), elector("beta")
    alpha.step(), beta.step()
    clock.advance(seconds=14)
    assert beta.leader() == "alpha"
    assert alpha.leader() is None  # past its own renew deadline it no longer names itself
    clock.advance(seconds=1)  # 15 s since beta saw the last renewal
    assert beta.leader() is None
