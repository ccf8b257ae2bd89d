"""The status feature on the registry: `/bizra status`, its renderers, and every replica's heartbeat job."""

from __future__ import annotations

from bot.core.runtime import Job, Registry, Subcommand
from bot.features.status.blocks import status_blocks
from bot.features.status.handlers import show_status
from bot.features.status.render import status_text
from bot.features.status.replicas import SCHEMA, Heartbeat
from bot.features.status.report import StatusReport


def register(registry: Registry) -> None:
    registry.add_subcommand(
        Subcommand(name="status", handler=show_status, usage="status",
                   summary="Which replica leads, the replicas seen recently, the store and its schema version.")
    )
    registry.renderers.add(StatusReport, text=status_text, blocks=status_blocks)
    registry.add_schema(SCHEMA)
    # Every replica records itself (not only the leader): that is how the others see it.
    registry.add_job(Job(name="replica-heartbeat", body=Heartbeat(), leader_only=False,
                         interval=lambda config: config.leader_election.heartbeat_interval.total_seconds()))
