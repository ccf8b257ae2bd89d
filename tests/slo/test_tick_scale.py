"""The SLO tick at scale: concurrent bounded reads, one deadline per tick, the sustain boundary, retention.

Every query goes to the run's real Prometheus, through a forwarding proxy on 127.0.0.1 that can hold
requests (a hung Prometheus) and counts how many are in flight at once. No sleeps: held requests are
released by events, and waits are polls or condition waits with deadlines.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.base import STATE_STOPPED

from bot.assembly import build_runtime
from bot.core import audit
from bot.core.runtime import Job
from bot.core.store import SqliteDatabase
from bot.core.telemetry import SLO_SLOW_TICKS
from bot.features.slo.watch import load_state, prune, run_once
from bot.surfaces.scheduler import start_scheduler
from commands.ports import FixedClock
from commands.slo import SloDefinition, SloState
from tests.slo.conftest import SUSTAIN, WINDOW, Watch, secrets_for, slo_config
from tests.support.prometheus import PrometheusServer, poll
from tests.support.shared_prometheus import Slot
from tests.support.slack import SlackRecorder


class HoldingProxy:
    """Forwards GETs to Prometheus; holds each request until `release` is set; counts the peak in flight."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.release = threading.Event()
        self.in_flight = 0
        self.peak = 0
        self.served = 0
        self.release_at_in_flight: int | None = None  # open the gate for good once this many are in flight
        self._cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer._enter()
                try:
                    outer.release.wait(timeout=60)  # bounded: a test that forgets to release fails, not hangs
                    with urllib.request.urlopen(outer.upstream + self.path, timeout=30) as response:
                        body, status = response.read(), response.status
                except Exception:
                    body, status = b'{"status":"error","errorType":"proxy","error":"upstream"}', 502
                finally:
                    outer._leave()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _enter(self) -> None:
        with self._cond:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            if self.release_at_in_flight is not None and self.in_flight >= self.release_at_in_flight:
                self.release.set()

    def _leave(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self.served += 1

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def proxy(prom: PrometheusServer) -> Iterator[HoldingProxy]:
    holding = HoldingProxy(prom.url)
    try:
        yield holding
    finally:
        holding.stop()


def _many(slot: Slot, count: int) -> list[SloDefinition]:
    """`count` copies of the slot's p99 latency SLO under distinct names (one query each), once it reads OK."""
    base = slot.catalog()[0]
    poll(lambda: (value := slot.prom.value(base.promql(WINDOW))) is not None and value <= base.objective,
         timeout=25, what=f"{slot.job} to read healthy", interval=0.2)
    return [base.model_copy(update={"name": f"latency_{n:03d}"}) for n in range(count)]


def test_queries_run_concurrently_never_above_the_bound(proxy: HoldingProxy, node0_slot: Slot,
                                                        slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    """Twelve SLOs, at most four queries at once: the proxy holds requests until four are in flight together
    (sequential reads would never get there), and never sees a fifth."""
    proxy.release_at_in_flight = 4
    config = slo_config(proxy.url, tmp_path, catalog=_many(node0_slot, 12), max_concurrent_queries=4,
                        tick_deadline=60, post_status=False)
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    runtime = build_runtime(config=config, secrets=secrets_for(slack_recorder), clock=clock)
    run = run_once(runtime, at=clock.now())
    assert proxy.peak == 4
    assert proxy.served == 12
    assert [r.state for r in run.status.results] == [SloState.OK] * 12, [r.reason for r in run.status.results]
    assert not run.slow and run.unanswered == 0


def test_a_hung_prometheus_costs_one_deadline_not_one_timeout_per_query(
        proxy: HoldingProxy, node0_slot: Slot, slack_recorder: SlackRecorder, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """Prometheus accepts and never answers; each query's own timeout is 30 s. The tick ends at its deadline
    with every SLO UNKNOWN saying why, is reported (warning + counter), and the next tick is unaffected."""
    config = slo_config(proxy.url, tmp_path, catalog=_many(node0_slot, 6), max_concurrent_queries=2,
                        tick_deadline="1s", post_status=False, prometheus={"url": proxy.url, "timeout_seconds": 30})
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    runtime = build_runtime(config=config, secrets=secrets_for(slack_recorder), clock=clock)
    slow_before = SLO_SLOW_TICKS._value.get()
    with caplog.at_level(logging.WARNING, logger="bot.features.slo.watch"):
        run = run_once(runtime, at=clock.now())
    held = proxy.in_flight
    assert held == 2, "the tick returned while its queries were still hanging (and never ran more than 2)"
    assert {r.state for r in run.status.results} == {SloState.UNKNOWN}
    assert all("slo.tick_deadline" in r.reason for r in run.status.results)
    assert run.slow and run.unanswered == 6
    assert SLO_SLOW_TICKS._value.get() == slow_before + 1
    assert any("slow SLO tick" in r.getMessage() for r in caplog.records)
    assert proxy.served == 0

    proxy.release.set()  # Prometheus answers again
    poll(lambda: proxy.in_flight == 0, timeout=10, what="the held queries to finish")
    clock.set(clock.now() + timedelta(seconds=10))
    later = run_once(runtime, at=clock.now())
    assert {r.state for r in later.status.results} == {SloState.OK}
    assert not later.slow
    assert proxy.served == 2 + 6, "the queries of the slow tick that had not started were cancelled"


def test_the_watch_evaluates_on_the_sustain_boundary(node0_slot: Slot, prom: PrometheusServer,
                                                     slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    """Interval 5 min, sustain 30 s: the tick that sees the breach asks to run again at its sustain boundary;
    that early run pages (without a second status post), and a second replica's tick just after is a replay."""
    config = slo_config(prom.url, tmp_path, catalog=node0_slot.catalog(), interval="5m")
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    runtime = build_runtime(config=config, secrets=secrets_for(slack_recorder), clock=clock)
    watch = Watch(runtime=runtime, clock=clock, recorder=slack_recorder, node0=node0_slot.exporter,
                  start=clock.now())
    watch.wait_all_ok()
    watch.node0.set(latency_seconds=0.003)
    watch.wait_for("cb_latency_p99", SloState.BREACHING)

    def status_posts() -> int:
        return len([p for p in watch.posts() if "alert.ack" not in str(p.body) and not p.body.get("thread_ts")])

    first = watch.run(0)
    assert first.next_evaluation == watch.start + timedelta(seconds=SUSTAIN)
    assert status_posts() == 1
    assert not watch.run(SUSTAIN / 2).events, "nothing falls due before the boundary: another replica's tick"

    boundary = watch.run(SUSTAIN)
    assert not boundary.replayed
    assert [e.kind for e in boundary.events] == ["page"]
    assert len(watch.pages()) == 1
    assert status_posts() == 1, "no extra status post at the boundary"
    # Next due: the re-page, one `repage` after the page.
    assert boundary.next_evaluation == watch.start + timedelta(seconds=SUSTAIN) + config.slo.repage

    other = build_runtime(config=config, secrets=runtime.secrets, clock=clock)
    assert run_once(other, at=watch.start + timedelta(seconds=SUSTAIN + 0.5)).replayed
    assert len(watch.pages()) == 1
    assert load_state(runtime).alerts[0].since == watch.start


def test_the_scheduler_runs_a_job_again_when_its_body_asks(tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    """A job every hour whose body asks to run again shortly: the scheduler runs it then, not an hour later,
    and never before the time asked for."""
    config = slo_config("http://127.0.0.1:9", tmp_path, enabled=False)
    runtime = build_runtime(config=config, secrets=secrets_for(slack_recorder))
    runs: list[datetime] = []
    asked: list[datetime] = []

    def body(_runtime: Any, at: datetime) -> datetime | None:
        runs.append(datetime.now(UTC))
        if len(runs) == 1:
            asked.append(at + timedelta(milliseconds=300))
            return asked[0]
        return None

    runtime.registry.add_job(Job(name="wakes", body=body, interval=lambda _config: 3600.0))
    scheduler = start_scheduler(runtime)
    assert scheduler is not None
    try:
        poll(lambda: len(runs) >= 2, timeout=10, what="the requested second run", interval=0.02)
    finally:
        scheduler.stop(timeout=20)
    assert len(runs) == 2
    assert runs[1] >= asked[0] - timedelta(milliseconds=5)  # APScheduler's clock vs the runtime's: same wall clock


def test_retention_prunes_old_samples_and_keeps_the_audit_by_default(watch: Watch) -> None:
    watch.run(0)
    watch.run(10)
    runtime = watch.runtime
    audit.record(runtime, actor="U1", channel="C1", action="test.old", target="t", before=None, after=None,
                 outcome="ok")
    db = runtime.store.get()

    def samples() -> int:
        return int(db.connect().execute("SELECT COUNT(*) FROM slo_samples").fetchone()[0])

    kept = prune(runtime, at=watch.start + timedelta(days=29))
    assert kept.samples_deleted == 0 and samples() == 8
    pruned = prune(runtime, at=watch.start + timedelta(days=30, seconds=5))
    assert pruned.samples_deleted == 4 and samples() == 4, "only the evaluation older than 30 days goes"
    assert prune(runtime, at=watch.start + timedelta(days=400)).samples_deleted == 4
    assert [e.action for e in audit.latest(runtime, 10)] == ["test.old"], "the audit log is kept by default"


def test_audit_retention_exports_before_it_deletes(tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    export = tmp_path / "audit-export"
    config = slo_config("http://127.0.0.1:9", tmp_path, retention={"audit_days": 90, "audit_export_dir": str(export),
                                                                   "batch_rows": 100})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = FixedClock(start)
    runtime = build_runtime(config=config, secrets=secrets_for(slack_recorder), clock=clock)
    for n in range(250):
        clock.set(start + timedelta(hours=n))
        audit.record(runtime, actor="U1", channel="C1", action=f"test.{n}", target="t", before={"n": n}, after=None,
                     outcome="ok")
    clock.set(start + timedelta(days=90, hours=200))  # entries 0..199 are older than 90 days
    result = prune(runtime, at=clock.now())
    assert result.audit_deleted == 200 and result.audit_exported_to is not None
    lines = [json.loads(line) for line in Path(result.audit_exported_to).read_text().splitlines()]
    assert [row["action"] for row in lines] == [f"test.{n}" for n in range(200)]
    assert json.loads(lines[7]["before"]) == {"n": 7}
    remaining = audit.latest(runtime, 1000)
    assert sorted(int(e.action.split(".")[1]) for e in remaining) == list(range(200, 250))


def test_incident_bundles_read_audit_rows_by_the_time_index(tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    config = slo_config("http://127.0.0.1:9", tmp_path)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = FixedClock(start)
    runtime = build_runtime(config=config, secrets=secrets_for(slack_recorder), clock=clock)
    for n in range(50):
        clock.set(start + timedelta(minutes=n))
        audit.record(runtime, actor="U1", channel="C1", action=f"test.{n}", target="t", before=None, after=None,
                     outcome="ok")
    db = runtime.store.get()
    assert isinstance(db, SqliteDatabase)  # the query plan is SQLite's
    connection = db.connect()
    statements: list[str] = []
    connection.set_trace_callback(statements.append)
    try:
        found = audit.latest(runtime, 200, since=start + timedelta(minutes=45))
    finally:
        connection.set_trace_callback(None)
    assert [e.action for e in found] == [f"test.{n}" for n in range(49, 44, -1)]
    select = next(s for s in statements if s.lstrip().upper().startswith("SELECT") and "audit_log" in s)
    plan = " ".join(str(row[3]) for row in sqlite3.connect(str(tmp_path / "state.sqlite")).execute(
        "EXPLAIN QUERY PLAN " + select))
    assert "audit_log_at" in plan and "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize(("field", "value"), [("max_concurrent_queries", 0), ("tick_deadline", 0),
                                              ("retention", {"samples_days": 0})])
def test_bad_scale_settings_are_refused(tmp_path: Path, field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        overrides: dict[str, Any] = {field: value}
        slo_config("http://127.0.0.1:9", tmp_path, **overrides)


def test_a_wake_up_and_an_interval_run_never_overlap(tmp_path: Path, slack_recorder: SlackRecorder,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """The wake-up run is still busy when the interval run comes: the interval run is skipped, not stacked."""
    config = slo_config("http://127.0.0.1:9", tmp_path, enabled=False)
    runtime = build_runtime(config=config, secrets=secrets_for(slack_recorder))
    calls: list[str] = []
    active = [0, 0]  # now, most ever
    release = threading.Event()

    def body(_runtime: Any, at: datetime) -> datetime | None:
        active[0] += 1
        active[1] = max(active)
        calls.append("run")
        try:
            if len(calls) == 1:
                return at + timedelta(milliseconds=50)
            release.wait(timeout=20)  # the wake-up run: busy until the test has seen the skip
            return None
        finally:
            active[0] -= 1

    runtime.registry.add_job(Job(name="busy", body=body, interval=lambda _config: 3600.0))
    with caplog.at_level(logging.INFO, logger="bot.surfaces.scheduler"):
        scheduler = start_scheduler(runtime)
        assert scheduler is not None
        try:
            poll(lambda: len(calls) >= 2, timeout=10, what="the wake-up run", interval=0.02)
            scheduler.modify_job("busy", next_run_time=datetime.now(UTC))  # the interval run, due now
            poll(lambda: any("still running" in r.getMessage() for r in caplog.records), timeout=10,
                 what="the interval run to be skipped", interval=0.02)
        finally:
            release.set()
            scheduler.stop(timeout=20)
    assert active[1] == 1 and len(calls) == 2


def test_stopping_the_scheduler_waits_for_a_running_job_that_books_a_wake_up(
    tmp_path: Path, slack_recorder: SlackRecorder
) -> None:
    """Found with the page-latency bench, which hung at exit: APScheduler's `shutdown(wait=True)` holds its
    job-store lock while it joins the running jobs, and a job that then books its wake-up (`get_job`,
    `add_job`) waits for that lock forever. Stopping must wait for the run, and the run must end."""
    config = slo_config("http://127.0.0.1:9", tmp_path, enabled=False)
    runtime = build_runtime(config=config, secrets=secrets_for(slack_recorder))
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def body(_runtime: Any, at: datetime) -> datetime | None:
        started.set()
        release.wait(timeout=20)  # busy while the scheduler is being stopped
        finished.set()
        return at + timedelta(seconds=30)  # then asks to run again, as the SLO watch does

    runtime.registry.add_job(Job(name="books", body=body, interval=lambda _config: 3600.0))
    scheduler = start_scheduler(runtime)
    assert scheduler is not None
    poll(started.is_set, timeout=10, what="the job's first run", interval=0.02)
    stopped = threading.Event()

    def stop() -> None:
        scheduler.stop(timeout=20)
        stopped.set()

    stopper = threading.Thread(target=stop, daemon=True)  # daemon: a deadlock must fail the test, not hang it
    stopper.start()
    poll(lambda: scheduler.state == STATE_STOPPED, timeout=10, what="the scheduler to stop taking runs",
         interval=0.02)
    assert not stopped.is_set(), "stopping returned while the job was still running"
    release.set()
    poll(stopped.is_set, timeout=10, what="stop() to return once the job ended", interval=0.02)
    assert finished.is_set()
