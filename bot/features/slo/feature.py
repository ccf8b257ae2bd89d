"""The slo feature on the registry: its subcommands, buttons, renderers and jobs."""

from __future__ import annotations

from bot.core.runtime import Job, Registry, Subcommand
from bot.features.slo.blocks import (
    alert_blocks,
    digest_blocks,
    live_blocks,
    note_blocks,
    silence_note_blocks,
    status_blocks,
)
from bot.features.slo.digest import INTERVAL_SECONDS, run_digest
from bot.features.slo.digest import SCHEMA as digest_tables
from bot.features.slo.handlers import alert_button, slo_command
from bot.features.slo.live import SCHEMA as live_tables
from bot.features.slo.render import (
    AlertMessage,
    AlertNote,
    Digest,
    LiveStatus,
    SilenceNote,
    SloStatus,
    alert_text,
    digest_text,
    live_text,
    note_text,
    silence_note_text,
    status_text,
)
from bot.features.slo.watch import SCHEMA as watch_tables
from bot.features.slo.watch import prune, run_once


def register(registry: Registry) -> None:
    registry.add_schema(watch_tables)
    registry.add_schema(digest_tables)
    registry.add_schema(live_tables)
    registry.add_subcommand(
        Subcommand(
            name="slo",
            handler=slo_command,
            usage="slo | slo ack <alert id> | slo silence <slo|all> <duration> <reason>",
            summary="NODE0 SLOs now, with a 30-minute chart; ack an alert; silence re-pages for a while.",
        )
    )
    registry.add_action("alert.", alert_button)
    # The body returns when it wants to run again (a sustain boundary), which the scheduler honours.
    registry.add_job(Job(name="slo-watch", body=lambda runtime, at: run_once(runtime, at=at).next_evaluation,
                         interval=lambda config: config.slo.interval.total_seconds(),
                         enabled=lambda config: config.slo.enabled))
    registry.add_job(Job(name="slo-retention", body=lambda runtime, at: prune(runtime, at=at),
                         interval=lambda config: config.slo.retention.interval.total_seconds(),
                         enabled=lambda config: config.slo.enabled))
    # Checks every minute whether today's digest time has passed; the day is claimed in the store.
    registry.add_job(Job(name="slo-digest", body=lambda runtime, at: run_digest(runtime, at=at),
                         interval=lambda config: INTERVAL_SECONDS,
                         enabled=lambda config: config.slo.enabled and config.slo.digest.enabled))
    registry.renderers.add(SloStatus, text=status_text, blocks=status_blocks)
    registry.renderers.add(LiveStatus, text=live_text, blocks=live_blocks)
    registry.renderers.add(AlertMessage, text=alert_text, blocks=alert_blocks)
    registry.renderers.add(AlertNote, text=note_text, blocks=note_blocks)
    registry.renderers.add(SilenceNote, text=silence_note_text, blocks=silence_note_blocks)
    registry.renderers.add(Digest, text=digest_text, blocks=digest_blocks)
