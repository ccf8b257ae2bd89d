"""The verify feature on the registry: its subcommands, buttons and renderers."""

from __future__ import annotations

from bot.core.runtime import Registry, Subcommand
from bot.features.verify.blocks import verify_blocks
from bot.features.verify.handlers import verify
from bot.features.verify.render import VerifyReport, verify_text


def register(registry: Registry) -> None:
    registry.add_subcommand(
        Subcommand(
            name="verify",
            handler=verify,
            usage="verify",
            summary="Check the cluster: Kyverno, unsigned-image admission, HPA, NetworkPolicy, PoI Job, pods, health, "
                    "Prometheus, WQ, canary.",
        )
    )
    registry.renderers.add(VerifyReport, text=verify_text, blocks=verify_blocks)
