"""`app_home_opened`: publish the viewer's Home tab; the refresh job republishes it when it changed.

What flows through: the stored canary run (`canary.store.load`, no cluster call), the SLO watch's
latest evaluation and open alerts, the release history, and the viewer's permissions
(`access.enforce.check`, no audit: showing a button is not using it). Each opened Home tab is a row
of `home_viewers` (user, digest of the view last published, when); `refresh` renders every row again
and calls `views.publish` only for those whose digest changed (a canary step, an alert opened or
resolved, a new release, the bake's next tenth).

A click on a Home button carries no channel (and no response_url): the canary's permissions are
checked here with the same empty channel, so a button is shown only when the click would be allowed.
*Roll back…* (`home.rollback`, handled here) acts in the release channel, so `rollback` is checked
there, for showing the button and again (audited) for the click. Its click posts the rollback
confirmation in the release channel (rollback.handlers.offer, as `/bizra rollback` does) and tells
the clicker where it is in a DM (the app's Messages tab, `chat.postMessage` to the user ID):
`chat.postEphemeral` would need the clicker to be in the release channel, and an ephemeral message
is shown only while that channel is open in their client and is gone on reload, so a click made on
the Home tab would most likely never be seen. Then the tab is published again (it lists the pending
confirmation).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.delivery import Postable
from bot.core.invocation import ActionInvocation, Reply
from bot.core.migrations import Migration, Schema
from bot.core.runtime import Runtime
from bot.core.store import Database
from bot.features.access.enforce import check, require
from bot.features.canary import store as canary_store
from bot.features.canary.engines import engine_label
from bot.features.canary.flagger import store as flagger_store
from bot.features.canary.inputs import stages
from bot.features.home.blocks import home_view
from bot.features.home.render import (
    ROLLBACK_ACTION,
    HomeAwaiting,
    HomeCanary,
    HomeRollback,
    HomeView,
    bake_tenths,
)
from bot.features.releases.history import history
from bot.features.rollback import confirmations
from bot.features.rollback.handlers import offer, permalink
from bot.features.rollback.render import RollbackPosted
from bot.features.slo.watch import latest_evaluation, load_state

log = logging.getLogger(__name__)

_DDL = """
CREATE TABLE IF NOT EXISTS home_viewers (
    user_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,        -- sha256 of the view last published (without its "as of" footer)
    published_at TEXT NOT NULL   -- ISO time of that publish
);
"""
SCHEMA = Schema("home", [Migration(1, _DDL)])


def _db(runtime: Runtime) -> Database:
    db = runtime.store.get()
    db.ensure(SCHEMA)
    return db


def _allowed(runtime: Runtime, user_id: str, permission: str, *, channel_id: str = "") -> bool:
    return check(runtime, user_id=user_id, user_groups=None, channel_id=channel_id, permission=permission).allowed


def _rollbacks(runtime: Runtime, *, at: datetime) -> list[HomeRollback]:
    return [HomeRollback(id=p.plan.id, channel=p.channel, requested_by=p.plan.requested_by,
                         current_image=p.plan.current_image, target_image=p.plan.target_image,
                         expires_at=p.plan.expires_at, canary=p.plan.canary)
            for p in confirmations.pending(runtime, now=at)]


def _canary(runtime: Runtime, *, at: datetime) -> tuple[HomeCanary | None, str | None]:
    active = canary_store.load(runtime)
    if active is None:
        entries = canary_store.history(runtime, 1)
        last = (f"{entries[0].event} of `{entries[0].image}` by {entries[0].actor} at {entries[0].at:%Y-%m-%d %H:%M} "
                f"UTC ({entries[0].outcome})") if entries else None
        return None, last
    run, stage_list = active.run, stages(runtime)
    pending = active.transition.split(":")[0] + " in progress" if active.transition else None
    if not 0 <= run.stage < len(stage_list):
        return HomeCanary(run_id=run.id, image=run.image, stage_index=run.stage, stages=len(stage_list),
                          stage_started_at=run.stage_started_at, started_by=run.started_by,
                          pending=pending), active.last_event
    stage = stage_list[run.stage]
    total = stage.bake.total_seconds()
    baked = (at - run.stage_started_at).total_seconds()
    nxt = stage_list[run.stage + 1] if run.stage + 1 < len(stage_list) else None
    label = f"Promote to stage {nxt.number} ({nxt.weight}%)" if nxt else "Complete release"
    return HomeCanary(
        run_id=run.id, image=run.image, stage_number=stage.number, stage_index=run.stage, stages=len(stage_list),
        stage_name=stage.name, weight=stage.weight, bake_seconds=total,
        baked_fraction=1.0 if total <= 0 else max(0.0, min(1.0, baked / total)),
        ready_at=run.stage_started_at + stage.bake, stage_started_at=run.stage_started_at,
        started_by=run.started_by, pending=pending, next_label=label,
    ), active.last_event


def build_view(runtime: Runtime, user_id: str, *, at: datetime) -> HomeView:
    """Everything the viewer's Home tab shows now."""
    canary, last_event = _canary(runtime, at=at)
    waiting = flagger_store.waiting(runtime) if canary is None else None  # the store's record: no cluster call
    state = load_state(runtime)
    release = runtime.config.slack.release_channel or ""
    return HomeView(
        user_id=user_id, at=at, target=engine_label(runtime), canary=canary, last_canary_event=last_event,
        awaiting=HomeAwaiting(image=waiting.image, checksum=waiting.checksum) if waiting else None,
        slo=latest_evaluation(runtime), alerts=[a for a in state.alerts if a.is_open],
        releases=history(runtime, runtime.config.home.releases) if runtime.config.home.releases else [],
        can_promote=canary is not None and _allowed(runtime, user_id, "canary.promote"),
        can_abort=canary is not None and _allowed(runtime, user_id, "canary.abort"),
        rollbacks=_rollbacks(runtime, at=at), release_channel=release,
        can_rollback=bool(release) and _allowed(runtime, user_id, "rollback", channel_id=release),
    )


def view_payload(view: HomeView) -> dict[str, Any]:
    return home_view(view).to_dict()


def digest(view: HomeView) -> str:
    """What a change is: the view without its "as of" footer or the SLO evaluation's time, the bake in tenths."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    steady = view.model_copy(update={"at": epoch})
    if steady.slo is not None:
        steady.slo = steady.slo.model_copy(update={"at": epoch})
    if steady.canary is not None:
        steady.canary = steady.canary.model_copy(update={"baked_fraction": bake_tenths(steady.canary.baked_fraction)})
    payload = view_payload(steady)
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def publish(runtime: Runtime, user_id: str, *, at: datetime) -> str:
    """Render and publish the viewer's Home tab, and remember it (its digest) for the refresh."""
    view = build_view(runtime, user_id, at=at)
    runtime.slack.get().views_publish(user_id=user_id, view=view_payload(view))
    found = digest(view)
    with _db(runtime).transaction() as connection:
        connection.execute(
            "INSERT INTO home_viewers (user_id, digest, published_at) VALUES (?, ?, ?) "
            "ON CONFLICT(user_id) DO UPDATE SET digest = excluded.digest, published_at = excluded.published_at",
            (user_id, found, at.astimezone(UTC).isoformat()),
        )
    return found


def home_opened(event: dict[str, Any], runtime: Runtime) -> None:
    """The `app_home_opened` event: the Home tab (not the Messages tab) gets the view."""
    user_id = str(event.get("user") or "")
    if not user_id or event.get("tab", "home") != "home" or not runtime.config.home.enabled:
        return
    publish(runtime, user_id, at=runtime.clock.now())


def viewers(runtime: Runtime) -> dict[str, str]:
    """Who opened Home, with the digest of what they were last shown."""
    rows = _db(runtime).connect().execute("SELECT user_id, digest FROM home_viewers").fetchall()
    return {row["user_id"]: row["digest"] for row in rows}


def refresh(runtime: Runtime, *, at: datetime, forget_after: timedelta = timedelta(days=7)) -> list[str]:
    """The job body: republish the Home tabs whose view changed; the users republished, in order.

    Viewers whose Home was last published more than `forget_after` ago are dropped (they open it
    again to come back). One viewer's failure (Slack refusing) does not stop the others."""
    with _db(runtime).transaction() as connection:
        connection.execute("DELETE FROM home_viewers WHERE published_at < ?",
                           ((at - forget_after).astimezone(UTC).isoformat(),))
    republished: list[str] = []
    for user_id, shown in sorted(viewers(runtime).items()):
        try:
            if digest(build_view(runtime, user_id, at=at)) == shown:
                continue
            publish(runtime, user_id, at=at)
            republished.append(user_id)
        except Exception:
            log.exception("could not refresh the Home tab of %s", user_id)
    return republished


def _rollback_target(runtime: Runtime) -> str:
    release = runtime.config.release
    return f"{release.namespace}/{release.deployment}"


def _tell(runtime: Runtime, user_id: str, message: Postable) -> None:
    """A DM to the clicker (the app's Messages tab); a failure is logged (the outbox tells nobody else)."""
    try:
        runtime.poster.get().post(message, channel=user_id)
    except Exception as exc:
        log.warning("could not tell %s about their Home click: %s", user_id, exc)


def home_rollback(invocation: ActionInvocation, runtime: Runtime) -> Reply | None:
    """*Roll back…* on the Home tab: post the rollback confirmation in the release channel, DM where it is.

    The click has no response_url, so every answer is a DM; nothing is returned to Bolt. A confirmation
    this viewer requested that is still pending is pointed at instead of posting a second one (a
    double click, or a click on a tab not refreshed yet).
    """
    if invocation.action_id != ROLLBACK_ACTION:
        log.warning("unknown Home action %s", invocation.action_id)
        return None
    user_id, release = invocation.user_id, runtime.config.slack.release_channel
    now = runtime.clock.now()
    if not release:
        _tell(runtime, user_id, ":x: No release channel is configured (`slack.release_channel`), so the bot has "
              "nowhere to post a rollback confirmation. Run `/bizra rollback` in the channel where it should go.")
        return None
    refusal = require(runtime, user_id=user_id, user_groups=invocation.user_groups, channel_id=release,
                      permission="rollback", target=_rollback_target(runtime))
    if refusal:  # audited by require(); the button is not shown to this viewer, so the click was forged or stale
        _tell(runtime, user_id, f"{refusal} Nothing was posted.")
        publish(runtime, user_id, at=now)
        return None
    waiting = [p for p in confirmations.pending(runtime, now=now) if p.plan.requested_by == user_id]
    if waiting:
        _tell(runtime, user_id, _already_waiting(runtime, waiting[0]))
    else:
        _tell(runtime, user_id, offer(runtime, reason="requested from the Home tab", user_id=user_id,
                                      channel_id=release))
    publish(runtime, user_id, at=now)
    return None


def _already_waiting(runtime: Runtime, waiting: confirmations.PendingConfirmation) -> RollbackPosted:
    bound = confirmations.bound_message(runtime, waiting.plan.id)
    link = permalink(runtime, channel=bound[0], ts=bound[1]) if bound else None
    return RollbackPosted(plan=waiting.plan, channel=bound[0] if bound else waiting.channel, permalink=link,
                          note="You requested it earlier; it is still waiting for a decision, so no second one "
                          "was posted.")
