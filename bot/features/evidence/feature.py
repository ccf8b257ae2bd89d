"""The evidence feature on the registry: `/bizra evidence`, its renderer, and the sweep that archives ended runs."""

from __future__ import annotations

from bot.core.runtime import Job, Registry, Subcommand
from bot.features.evidence.assemble import sweep
from bot.features.evidence.blocks import archived_blocks
from bot.features.evidence.handlers import USAGE, evidence_command
from bot.features.evidence.render import EvidenceArchived, archived_text
from bot.features.evidence.store import SCHEMA as evidence_tables


def register(registry: Registry) -> None:
    registry.add_schema(evidence_tables)
    registry.add_subcommand(
        Subcommand(
            name="evidence",
            handler=evidence_command,
            usage=USAGE,
            summary="Assemble the signed evidence archive of the latest (or a named) canary run.",
        )
    )
    registry.renderers.add(EvidenceArchived, text=archived_text, blocks=archived_blocks)
    # Completed, aborted and rolled-back runs are archived by this job (each once), so neither the
    # canary nor the rollback depends on this feature.
    registry.add_job(Job(name="evidence-archive", body=lambda runtime, at: sweep(runtime, at=at),
                         interval=lambda config: config.evidence.interval_seconds))
