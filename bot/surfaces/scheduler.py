"""Background jobs: APScheduler 3 runs every job the features registered (the SLO watch, …).

Each job only reads the runtime's clock and calls its body with that time, so every decision is
tested by calling the body directly with explicit times; this module is the thin timer. One run
of a job at a time (a per-job lock, `max_instances=1`, missed runs coalesced): a slow Prometheus
never stacks evaluations, and persisted state makes a skipped run harmless.

Leadership: with several replicas only the elected leader runs the jobs marked `leader_only` (all
but a replica's own heartbeat). Each run asks `runtime.still_leader()` right before calling the
body, so a replica that lost the Lease (or never had it) skips the run; the body itself asks again
before anything that must happen once (docs/high-availability.md).

Wake-ups: a body may return a `datetime` (on the runtime's clock) to be run again then, when that
comes before its next interval run — the SLO watch asks for its sustain boundary this way, so a
page does not wait for the next interval tick. Only the earliest requested wake-up is kept.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED

from bot.core.runtime import Job, Runtime

log = logging.getLogger(__name__)


class RunsInFlight:
    """How many job runs are in progress, so that stopping can wait for them."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    def __enter__(self) -> None:
        with self._changed:
            self._count += 1

    def __exit__(self, *exc: object) -> None:
        with self._changed:
            self._count -= 1
            self._changed.notify_all()

    def wait_idle(self, timeout: float | None) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._count == 0, timeout=timeout)


class JobScheduler(BackgroundScheduler):
    """APScheduler's background scheduler, with a stop that waits for the runs in progress safely."""

    def __init__(self) -> None:
        super().__init__(timezone=UTC)
        self.runs = RunsInFlight()

    def stop(self, *, timeout: float | None = None) -> bool:
        """Start no more runs, then wait (at most `timeout` s) for the runs in progress; whether they ended.

        Not `shutdown(wait=True)`: APScheduler holds its job-store lock while it joins the running jobs,
        and a job that books its wake-up then (`get_job`, `add_job` take that lock) waits for it forever.
        """
        self.shutdown(wait=False)  # the lock is free again at once; the runs in progress go on
        ended = self.runs.wait_idle(timeout)
        if not ended:
            log.warning("background jobs still running %g s after the scheduler stopped; not waiting longer",
                        timeout)
        return ended


class _Runner:
    """One job on one scheduler: runs its body (never twice at once) and books the wake-up it asks for."""

    def __init__(self, runtime: Runtime, job: Job, scheduler: JobScheduler | None) -> None:
        self.runtime, self.job, self.scheduler = runtime, job, scheduler
        self._lock = threading.Lock()

    @property
    def wake_id(self) -> str:
        return f"{self.job.name}@wake"

    def __call__(self) -> None:
        if self.scheduler is None:
            self._run()
            return
        with self.scheduler.runs:
            self._run()

    def _run(self) -> None:
        if self.job.leader_only and not self.runtime.still_leader():
            log.debug("background job %s runs on the leader only; this replica is not it", self.job.name)
            return
        if not self._lock.acquire(blocking=False):
            log.info("background job %s is still running; this run is skipped", self.job.name)
            return
        try:
            result = self.job.body(self.runtime, self.runtime.clock.now())
        except Exception:  # one failed run must not stop the schedule
            log.exception("background job %s failed", self.job.name)
            return
        finally:
            self._lock.release()
        if isinstance(result, datetime) and self.scheduler is not None:
            self.wake_at(result)

    def wake_at(self, when: datetime) -> None:
        """Run again at `when` (runtime clock) unless the interval run, or an earlier wake-up, comes first."""
        assert self.scheduler is not None
        if self.scheduler.state == STATE_STOPPED:
            return  # stopping: nothing more will run
        delay = max(0.0, (when - self.runtime.clock.now()).total_seconds())
        run_at = datetime.now(UTC) + timedelta(seconds=delay)
        for other in (self.scheduler.get_job(self.job.name), self.scheduler.get_job(self.wake_id)):
            if other is not None and other.next_run_time is not None and other.next_run_time <= run_at:
                return
        self.scheduler.add_job(self, "date", run_date=run_at, id=self.wake_id, replace_existing=True,
                               misfire_grace_time=None)
        log.debug("background job %s wakes at %s", self.job.name, run_at.isoformat())


def tick(runtime: Runtime, job: Job) -> None:
    """Run a job's body once with the clock's time, as the scheduler would (a failure is logged, never
    raised; a leader-only job is skipped on a replica that is not the leader)."""
    _Runner(runtime, job, None)()


def start_scheduler(runtime: Runtime) -> JobScheduler | None:
    """Start the enabled jobs in the background (None when there is none to run)."""
    config = runtime.config
    jobs = [job for job in runtime.registry.jobs if job.enabled(config)]
    for job in runtime.registry.jobs:
        if job not in jobs:
            log.info("background job %s is disabled by the config", job.name)
    if not jobs:
        return None
    if not config.slack.release_channel and runtime.surface != "console":
        log.error("slack.release_channel is empty: SLO status and pages have nowhere to go until it is set")
    scheduler = JobScheduler()
    for job in jobs:
        seconds = job.interval(config)
        scheduler.add_job(_Runner(runtime, job, scheduler), "interval", seconds=seconds,
                          next_run_time=datetime.now(UTC), id=job.name, max_instances=1, coalesce=True,
                          misfire_grace_time=max(1, int(seconds)))
        log.info("background job %s every %g s%s", job.name, seconds, " (leader only)" if job.leader_only else "")
    if runtime.leadership.wired and runtime.leadership.get().elected:
        watch = LeaderWatch(runtime, [job.name for job in jobs if job.leader_only], scheduler)
        scheduler.add_job(watch, "interval", seconds=config.leader_election.retry_period.total_seconds(),
                          id="leader-watch", max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler


class LeaderWatch:
    """On becoming leader, run the leader-only jobs at once instead of at their next interval: a
    replica taking over from a dead leader evaluates the SLOs now, not up to one interval later."""

    def __init__(self, runtime: Runtime, job_names: list[str], scheduler: JobScheduler) -> None:
        self.runtime, self.job_names, self.scheduler = runtime, job_names, scheduler
        self._was_leader = False

    def __call__(self) -> bool:
        """Returns whether this replica just became leader (and so ran its jobs early)."""
        with self.scheduler.runs:
            return self._watch()

    def _watch(self) -> bool:
        leading = self.runtime.still_leader()
        became, self._was_leader = leading and not self._was_leader, leading
        if became and self.scheduler.state != STATE_STOPPED:
            for name in self.job_names:
                scheduled = self.scheduler.get_job(name)
                if scheduled is not None:
                    scheduled.modify(next_run_time=datetime.now(UTC))
        return became

