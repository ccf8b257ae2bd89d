"""The audit feature on the registry: its subcommands, buttons and renderers."""

from __future__ import annotations

from bot.core.runtime import Registry, Subcommand
from bot.features.audit.blocks import audit_blocks
from bot.features.audit.handlers import show_audit
from bot.features.audit.render import AuditListing, audit_text


def register(registry: Registry) -> None:
    registry.add_subcommand(
        Subcommand(
            name="audit",
            handler=show_audit,
            usage="audit [N]",
            summary="Show the latest N audit entries (who changed what, and when).",
        )
    )
    registry.renderers.add(AuditListing, text=audit_text, blocks=audit_blocks)
