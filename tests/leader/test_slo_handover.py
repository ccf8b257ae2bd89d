"""The SLO watch pages from the leader only: a replica whose lease lapsed while its tick ran evaluates
and records the breach but pages nobody; the replica that takes the Lease over pages exactly once,
from the state in the shared store.

Real Prometheus scraping the synthetic NODE0 (tests/slo's `watch`), the recording Slack server, and
two electors on the Kubernetes API emulator, all on the watch's test clock."""

from __future__ import annotations

from collections.abc import Callable

from bot.adapters.lease import KubeLease
from bot.assembly import build_runtime
from bot.core.leadership import LeaseElector
from bot.features.slo.watch import run_once
from commands.slo import SloState
from tests.leader.conftest import SETTINGS
from tests.slo.conftest import SUSTAIN, Watch, secrets_for


def test_a_lapsed_leader_pages_nobody_and_the_new_leader_pages_once(watch: Watch,
                                                                    lease_for: Callable[..., KubeLease]) -> None:
    alpha = LeaseElector(lease_for("alpha"), identity="alpha", settings=SETTINGS, clock=watch.clock)
    beta = LeaseElector(lease_for("beta"), identity="beta", settings=SETTINGS, clock=watch.clock)
    assert alpha.step() and not beta.step()
    watch.runtime.leadership.set(alpha)
    other = build_runtime(config=watch.runtime.config, secrets=secrets_for(watch.recorder), clock=watch.clock)
    other.leadership.set(beta)

    watch.node0.set(latency_seconds=0.003)  # p99 above the 1.5 ms objective
    watch.wait_for("cb_latency_p99", SloState.BREACHING)
    watch.run(0)  # alpha leads: the breach starts
    # alpha's renewals stop (its API server connection is gone); its next tick comes after the sustain
    # window, when its renew deadline has long passed: it evaluates and records, and pages nobody.
    run = watch.run(SUSTAIN)
    assert not alpha.is_leader()
    assert [event.slo for event in run.events] == ["cb_latency_p99"]  # the breach is recorded as sustained
    assert watch.pages() == []
    # beta's lease view has expired too: it takes over and its tick delivers the page from the store.
    assert beta.step()
    run_once(other, at=watch.clock.now())
    assert len(watch.pages()) == 1
    run_once(other, at=watch.clock.now())
    assert len(watch.pages()) == 1, "the page owed is delivered once"
