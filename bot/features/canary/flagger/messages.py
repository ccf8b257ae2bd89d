"""The Flagger run's message in the release channel and its thread: posting never changes an answer.

The run message is posted once per run (`store.claim_post` decides who) and edited in place as
the run's state changes. Flagger's events and the gate's own notes go to a thread: the canary run's
(the history every engine keeps, flow.py) once the run is started, before that the Flagger message's.
Every post goes through `runtime.poster` (the persisted outbox in `bizra serve`).
"""

from __future__ import annotations

import logging

from bot.core.runtime import Runtime
from bot.features.canary import store as canary_store
from bot.features.canary.flagger import store
from bot.features.canary.flagger.ref import canary_ref, step_weights
from bot.features.canary.flagger.render import FlaggerEvent, FlaggerNote, FlaggerRunMessage
from bot.features.canary.flagger.store import FlaggerRun

log = logging.getLogger(__name__)


def run_message(runtime: Runtime, run: FlaggerRun) -> FlaggerRunMessage:
    return FlaggerRunMessage(run=run, canary=canary_ref(runtime), stages=step_weights(runtime))


def post_run_message(runtime: Runtime, run: FlaggerRun) -> None:
    channel = runtime.config.slack.release_channel or None
    try:
        ts = runtime.poster.get().post(run_message(runtime, run), channel=channel)
    except Exception as exc:  # Slack being down never changes Flagger's answer
        log.warning("could not post the Flagger run message: %s", exc)
        return
    if ts:
        store.set_message(runtime, run.id, channel=channel or "", ts=ts)


def update_run_message(runtime: Runtime, run_id: str) -> None:
    run = store.get(runtime, run_id)
    if run is None or not run.message_ts:
        return
    try:
        runtime.poster.get().update(run.message_ts, run_message(runtime, run), channel=run.message_channel or None)
    except Exception as exc:
        log.warning("could not update the Flagger run message: %s", exc)


def _thread(runtime: Runtime, run: FlaggerRun) -> tuple[str | None, str | None]:
    """(channel, thread ts): the canary run's thread once it is started, else the Flagger run message's."""
    active = canary_store.load(runtime)
    if run.canary_id and active is not None and active.run.id == run.canary_id and active.run.thread_ts:
        return active.run.message_channel or run.message_channel or None, active.run.thread_ts
    return run.message_channel or None, run.message_ts or None


def post_in_thread(runtime: Runtime, run_id: str, item: FlaggerEvent | FlaggerNote) -> None:
    run = store.get(runtime, run_id)
    if run is None:
        return
    channel, thread_ts = _thread(runtime, run)
    if thread_ts is None:
        return
    try:
        runtime.poster.get().post(item, channel=channel, thread_ts=thread_ts)
    except Exception as exc:
        log.warning("could not post in the Flagger run's thread: %s", exc)
