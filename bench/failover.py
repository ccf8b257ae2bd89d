"""Failover of `bizra serve` replicas: `kill -9` of the leader → the first tick of the new leader.

Three real `bizra serve` processes (HTTP mode, 127.0.0.1) on one PostgreSQL database (a throwaway
cluster, tests/support/postgres.py), electing their leader on a Lease served by the Kubernetes API
emulator (tests/support/kube_api.py), their SLO watch reading a synthetic NODE0 on a real Prometheus
(tests/support/shared_prometheus.py) that breaches its latency SLO for the whole run, their Web API
pointed at the recording Slack server (tests/support/slack.py). Nothing leaves the machine. The parts
and the config are the replica tests' (tests/support/replicas.py): lease 3 s, renew deadline 2 s,
retry 0.5 s, SLO interval 1 s.

Each of the `--kills` rounds (bounded: at most 20) kills the current leader with SIGKILL and measures
- from the kill to the first tick of the new leader: the first SLO evaluation written to the store
  after the kill (only the leader evaluates, and the old one is dead), beside the lease duration;
- the acks (send → HTTP 200) of signed `/bizra gates` commands sent to the two survivors, one every
  `--ack-every` seconds round-robin, from the kill until that first tick;
then restarts the killed replica (same identity) and waits until it is ready. Over all rounds it
counts the pages of the one sustained breach (goal: exactly 1, so 0 duplicates) and its re-pages
(every `--repage` seconds, unacknowledged) by their ordinal "(page N)": a repeated ordinal is a
duplicate (goal 0), a skipped one a re-page missed.

    .venv/bin/python bench/failover.py [--kills 10] [--ack-every 0.05] [--repage 5]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.features.slo.watch import CLAIM_TIMEOUT  # noqa: E402
from tests.support.kube_api import KubeApiServer  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402
from tests.support.replicas import (  # noqa: E402
    LATENCY_BREACH,
    LEASE_SECONDS,
    SIGNING_SECRET,
    SLO_INTERVAL_SECONDS,
    Replica,
    ReplicaSet,
    postgres_store,
    replica_set,
    seed_node0,
)
from tests.support.shared_prometheus import SharedPrometheus  # noqa: E402
from tests.support.slack import SlackRecorder, post, sign, slash_command_body  # noqa: E402

NAMES = ["bizra-0", "bizra-1", "bizra-2"]
MAX_KILLS = 20
MIN_ACK_EVERY = 0.02  # at most 50 commands a second: a latency probe, not a load test
SLACK_DEADLINE_MS = 3000.0
CLAIM_TIMEOUT_SECONDS = CLAIM_TIMEOUT.total_seconds()  # how long an alert's delivery claim holds


def wait_until(condition, *, timeout: float, what: str, interval: float = 0.02):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)  # polling interval of a benchmark driver; not a test
    raise SystemExit(f"timed out after {timeout:g}s waiting for {what}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def iso(when: float) -> str:
    """A wall-clock time as the store writes `slo_samples.at` (fixed width, UTC), so text order is time order."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


@dataclass
class AckProbe:
    """Signed `/bizra gates` to the survivors, round-robin, until stopped; latencies of the HTTP 200s."""

    survivors: list[Replica]
    recorder: SlackRecorder
    every: float
    tag: str
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _send(self, replica: Replica, index: int) -> None:
        body = slash_command_body("gates", response_url=self.recorder.response_url(f"{self.tag}-{index}"))
        started = time.perf_counter()
        try:
            status, _ = post(replica.url + "/slack/events", body, sign(SIGNING_SECRET, body), timeout=10)
        except OSError:
            status = 0
        if status == 200:
            self.latencies.append((time.perf_counter() - started) * 1000)
        else:
            self.failures += 1

    def _run(self) -> None:
        index = 0
        while not self._stop.is_set():
            replica = self.survivors[index % len(self.survivors)]
            sender = threading.Thread(target=self._send, args=(replica, index), daemon=True)
            sender.start()
            self._threads.append(sender)
            index += 1
            self._stop.wait(self.every)  # the pacing of the probe

    def start(self) -> AckProbe:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for sender in self._threads:
            sender.join(15)


def first_tick_after(replicas: ReplicaSet, killed_at: float) -> float | None:
    rows = replicas.store.rows("SELECT MIN(at) AS at FROM slo_samples WHERE at > ?", iso(killed_at))
    if not rows or not rows[0]["at"]:
        return None
    return datetime.fromisoformat(str(rows[0]["at"])).timestamp()


def repage_ordinals(replicas: ReplicaSet) -> list[int]:
    """The "(page N)" of every re-page in the page's thread, as Slack received them."""
    rows = replicas.store.rows("SELECT data FROM slo_alerts")
    ts = str(json.loads(rows[0]["data"]).get("message_ts") or "") if rows else ""
    if not ts:
        return []
    found = (re.search(r"Still unacknowledged.*\(page (\d+)\)", str(r.body.get("text"))) for r in replicas.thread(ts))
    return [int(match.group(1)) for match in found if match]


def one_failover(replicas: ReplicaSet, round_no: int, every: float) -> tuple[float, float, AckProbe]:
    """Kill the leader; (seconds to the new holder of the Lease, seconds to its first tick, the ack probe)."""
    leader = replicas.wait_leader(timeout=30)
    survivors = [r for r in replicas.alive() if r is not leader]
    probe = AckProbe(survivors=survivors, recorder=replicas.recorder, every=every, tag=f"k{round_no}")
    leader.kill()
    killed_at = time.time()
    probe.start()
    try:
        wait_until(lambda: replicas.lease_holder() not in (None, leader.name), timeout=30, what="a new lease holder")
        elected_at = time.time()
        ticked_at = wait_until(lambda: first_tick_after(replicas, killed_at), timeout=30,
                               what="the new leader's first tick")
    finally:
        probe.stop()
    replicas.restart(leader.name)
    return elected_at - killed_at, ticked_at - killed_at, probe


@dataclass
class Rounds:
    """What the kills measured."""

    elected: list[float] = field(default_factory=list)  # kill → new holder of the Lease, seconds
    ticks: list[float] = field(default_factory=list)  # kill → first tick of the new leader, seconds
    acks: list[float] = field(default_factory=list)  # ms
    ack_failures: int = 0


def run_kills(replicas: ReplicaSet, kills: int, every: float) -> Rounds:
    rounds = Rounds()
    for round_no in range(1, kills + 1):
        to_holder, to_tick, probe = one_failover(replicas, round_no, every)
        rounds.elected.append(to_holder)
        rounds.ticks.append(to_tick)
        rounds.acks += probe.latencies
        rounds.ack_failures += probe.failures
        p99 = percentile(probe.latencies, 0.99) if probe.latencies else math.nan
        print(f"  kill {round_no:2d}: new lease holder after {to_holder:5.2f} s, first tick after {to_tick:5.2f} s, "
              f"{len(probe.latencies)} acks (p99 {p99:6.1f} ms)")
    return rounds


def open_claims(replicas: ReplicaSet) -> list[str]:
    """Alert deliveries claimed in the store and not yet expired (a killed leader's outlive it)."""
    now = datetime.now(UTC)
    claims = []
    for row in replicas.store.rows("SELECT data FROM slo_alerts"):
        until = json.loads(row["data"]).get("claim_until")
        if until and datetime.fromisoformat(str(until).replace("Z", "+00:00")) > now:
            claims.append(str(until))
    return claims


def settle(replicas: ReplicaSet) -> None:
    """Keep the breach going until no delivery claim is left (at most the bot's 2-minute claim timeout), then
    two more SLO ticks: whatever a killed leader left claimed has been retried, duplicates included."""
    claims = open_claims(replicas)
    if claims:
        print(f"  settling: a delivery claimed until {claims[0]} (by a killed leader); waiting for it to expire")
    wait_until(lambda: not open_claims(replicas), timeout=CLAIM_TIMEOUT_SECONDS + 30, what="the claims to expire",
               interval=0.5)
    settled_at = time.time()
    wait_until(lambda: first_tick_after(replicas, settled_at + 2 * SLO_INTERVAL_SECONDS), timeout=30,
               what="two more SLO ticks")


def report(replicas: ReplicaSet, rounds: Rounds, *, kills: int, repage: float) -> bool:
    ticks, elected, acks = rounds.ticks, rounds.elected, rounds.acks
    budget = LEASE_SECONDS + SLO_INTERVAL_SECONDS
    median, peak = statistics.median(ticks), max(ticks)
    print(f"  kill → first tick of the new leader: median {median:.2f} s, max {peak:.2f} s = "
          f"{median / LEASE_SECONDS:.2f}x / {peak / LEASE_SECONDS:.2f}x the lease duration ({LEASE_SECONDS} s); "
          f"promise lease + interval = {budget:g} s: {'met' if peak <= budget else 'MISSED'}")
    print(f"  kill → new lease holder: median {statistics.median(elected):.2f} s, max {max(elected):.2f} s")
    pages = len(replicas.pages())
    print(f"  pages of the one breach over {kills} kills: {pages} (duplicates {pages - 1}; goal 0: "
          f"{'met' if pages == 1 else 'MISSED'})")
    ordinals = repage_ordinals(replicas)
    repeated = len(ordinals) - len(set(ordinals))
    skipped = len(set(range(2, max(ordinals, default=1) + 1)) - set(ordinals))
    print(f"  re-pages (every {repage:g} s) in the page's thread: {len(ordinals)}, ordinals repeated {repeated} "
          f"(goal 0: {'met' if repeated == 0 else 'MISSED'}), skipped {skipped}")
    if acks:
        print(f"  acks on the survivors during failover: {len(acks)} signed /bizra gates, p50 "
              f"{percentile(acks, 0.5):.1f} ms, p99 {percentile(acks, 0.99):.1f} ms, max {max(acks):.1f} ms "
              f"(Slack's deadline {SLACK_DEADLINE_MS:,.0f} ms), failures {rounds.ack_failures}")
    return pages == 1 and repeated == 0 and rounds.ack_failures == 0 and bool(acks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--ack-every", type=float, default=0.05, help="seconds between probe commands")
    parser.add_argument("--repage", type=float, default=5.0, help="slo.repage in seconds (re-pages during the run)")
    parser.add_argument("--no-settle", action="store_true",
                        help="count at once, without waiting for claims left by killed leaders to expire")
    args = parser.parse_args()
    kills = max(1, min(args.kills, MAX_KILLS))
    every = max(MIN_ACK_EVERY, args.ack_every)
    repage = max(1.0, args.repage)

    postgres = PostgresServer.launch()
    prometheus = SharedPrometheus.launch(slots=1)
    recorder = SlackRecorder().start()
    kube = KubeApiServer().start()
    seed_node0(kube)
    workdir = Path(tempfile.mkdtemp(prefix="bizra-failover-"))
    try:
        slot = prometheus.ready().claim()
        store = postgres_store(postgres.new_database())
        with replica_set(recorder=recorder, api=kube, store=store, workdir=workdir, slot=slot,
                         repage=timedelta(seconds=repage)) as replicas:
            replicas.start(NAMES)
            replicas.wait_leader(timeout=30)
            slot.exporter.set(latency_seconds=LATENCY_BREACH)  # breaching from now to the end
            wait_until(replicas.pages, timeout=60, what="the page of the sustained breach")
            print(f"{len(NAMES)} replicas on PostgreSQL, lease {LEASE_SECONDS} s, SLO interval "
                  f"{SLO_INTERVAL_SECONDS:g} s; {kills} kill -9 of the leader during a sustained breach "
                  "(the first as soon as the page is in Slack)")
            rounds = run_kills(replicas, kills, every)
            if not args.no_settle:
                settle(replicas)
            ok = report(replicas, rounds, kills=kills, repage=repage)
    finally:
        kube.stop()
        recorder.stop()
        prometheus.close()
        postgres.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
