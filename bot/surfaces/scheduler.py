"""Background jobs: APScheduler 3 runs every job the features registered (the SLO watch, …).

Each job only reads the runtime's clock and calls its body with that time, so every decision is
tested by calling the body directly with explicit times; this module is the thin timer. One run
of a job at a time (`max_instances=1`, missed runs coalesced): a slow Prometheus never stacks
evaluations, and persisted state makes a skipped run harmless.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from bot.core.runtime import Job, Runtime

log = logging.getLogger(__name__)


def tick(runtime: Runtime, job: Job) -> None:
    try:
        job.body(runtime, runtime.clock.now())
    except Exception:  # one failed run must not stop the schedule
        log.exception("background job %s failed", job.name)


def start_scheduler(runtime: Runtime) -> BackgroundScheduler | None:
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
    scheduler = BackgroundScheduler(timezone=UTC)
    for job in jobs:
        seconds = job.interval(config)
        scheduler.add_job(tick, "interval", args=[runtime, job], seconds=seconds, next_run_time=datetime.now(UTC),
                          id=job.name, max_instances=1, coalesce=True, misfire_grace_time=max(1, int(seconds)))
        log.info("background job %s every %g s", job.name, seconds)
    scheduler.start()
    return scheduler
