"""The slo feature on the registry: its subcommands, buttons and renderers."""

from __future__ import annotations

from bot.core.runtime import Job, Registry, Subcommand
from bot.features.slo.blocks import alert_blocks, note_blocks, status_blocks
from bot.features.slo.handlers import alert_button, slo_command
from bot.features.slo.render import AlertMessage, AlertNote, SloStatus, alert_text, note_text, status_text
from bot.features.slo.watch import prune, run_once


def register(registry: Registry) -> None:
    registry.add_subcommand(
        Subcommand(
            name="slo",
            handler=slo_command,
            usage="slo [ack <alert id>]",
            summary="NODE0 SLOs now, with a 30-minute chart; ack an alert.",
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
    registry.renderers.add(SloStatus, text=status_text, blocks=status_blocks)
    registry.renderers.add(AlertMessage, text=alert_text, blocks=alert_blocks)
    registry.renderers.add(AlertNote, text=note_text, blocks=note_blocks)
