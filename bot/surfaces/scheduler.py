"""The SLO watch's schedule: APScheduler 3 runs `bot.features.slo.watch.run_once` every `slo.interval`.

The job only reads the runtime's clock and calls the job body with that time, so every decision
is tested by calling `run_once` directly with explicit times; this module is the thin timer.
One tick at a time (`max_instances=1`, missed ticks coalesced): a slow Prometheus never stacks
evaluations, and persisted state makes a skipped tick harmless.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from bot.core.runtime import Runtime
from bot.features.slo.watch import run_once

log = logging.getLogger(__name__)


def tick(runtime: Runtime) -> None:
    try:
        run_once(runtime, at=runtime.clock.now())
    except Exception:  # one failed tick must not stop the schedule
        log.exception("SLO watch tick failed")


def start_scheduler(runtime: Runtime) -> BackgroundScheduler | None:
    """Start the SLO watch in the background (None when `slo.enabled` is off)."""
    settings = runtime.config.slo
    if not settings.enabled:
        log.info("SLO watch disabled (slo.enabled: false)")
        return None
    if not runtime.config.slack.release_channel and runtime.surface != "console":
        log.error("slack.release_channel is empty: SLO status and pages have nowhere to go until it is set")
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(tick, "interval", args=[runtime], seconds=settings.interval.total_seconds(),
                      next_run_time=datetime.now(UTC), id="slo-watch", max_instances=1, coalesce=True,
                      misfire_grace_time=int(settings.interval.total_seconds()))
    scheduler.start()
    log.info("SLO watch every %s against %s", settings.interval, settings.prometheus.url)
    return scheduler
