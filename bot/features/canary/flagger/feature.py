"""The Flagger engine on the registry: its webhook route, the run message's buttons, renderers and the
reconcile job (registered by the canary feature, bot/features/canary/feature.py)."""

from __future__ import annotations

from bot.core.runtime import Job, Registry, Runtime, WebhookAnswer
from bot.features.canary.flagger.blocks import event_blocks, note_blocks, run_blocks
from bot.features.canary.flagger.gate import receive, reconcile
from bot.features.canary.flagger.handlers import flagger_button
from bot.features.canary.flagger.protocol import MAX_BODY_BYTES
from bot.features.canary.flagger.render import (
    FlaggerEvent,
    FlaggerNote,
    FlaggerRunMessage,
    event_text,
    note_text,
    run_text,
)
from bot.features.canary.flagger.store import SCHEMA as flagger_tables

WEBHOOK_PREFIX = "/webhooks/flagger/"
RECONCILE_SECONDS = 30.0  # Flagger's own interval is a minute by default; its events usually come first


def _webhook(runtime: Runtime, hook: str, body: bytes) -> WebhookAnswer:
    answer = receive(runtime, hook=hook, body=body)
    return WebhookAnswer(status=answer.status, text=answer.text)


def register(registry: Registry) -> None:
    registry.add_schema(flagger_tables)
    registry.add_webhook(WEBHOOK_PREFIX, _webhook, max_body=MAX_BODY_BYTES)
    registry.add_action("flagger.", flagger_button)  # Approve / Deny on the Flagger run's message
    registry.renderers.add(FlaggerRunMessage, text=run_text, blocks=run_blocks)
    registry.renderers.add(FlaggerEvent, text=event_text, blocks=event_blocks)
    registry.renderers.add(FlaggerNote, text=note_text, blocks=note_blocks)
    # Flagger's terminal phases (Succeeded, Failed) finish the canary run even when no event hook reports them.
    registry.add_job(Job(name="flagger-reconcile", body=lambda runtime, at: reconcile(runtime),
                         interval=lambda config: RECONCILE_SECONDS,
                         enabled=lambda config: config.canary.engine == "flagger"))
