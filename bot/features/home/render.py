"""The Home tab's words: what the release is doing now, as lines (also its plain-text fallback).

`HomeView` is everything the tab shows, read by handlers.py; `blocks.py` lays the same lines out as
Block Kit. The bake is shown in tenths (a progress bar in 10 % steps and the time it is ready), so a
periodic refresh republishes only when something a reader would notice has changed. No slack_sdk here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from bot.features.canary.render import progress_bar, when
from bot.features.releases.render import mention
from commands.breach import Alert
from commands.canary import human, short_image
from commands.last_stable import HistoryRecord, short_digest
from commands.rollback import CanaryInFlight
from commands.slo import SloState, SloStatus

SLO_ICON = {SloState.OK: ":large_green_circle:", SloState.BREACHING: ":red_circle:",
            SloState.UNKNOWN: ":white_circle:"}
TITLE = "bizra"
HEADER = ":rocket: NODE0 release"

# The Home tab's own button: posts a rollback confirmation in the release channel (bot/features/home/handlers.py).
ROLLBACK_ACTION = "home.rollback"
ROLLBACK_LABEL = "Roll back…"
ROLLBACK_DIALOG = ("Post a rollback confirmation?", "Post it", "Go back")


class HomeCanary(BaseModel):
    """The active canary, as far as the store knows it (no cluster call: the tab opens fast)."""

    run_id: str
    image: str
    stage_number: int | None = None  # None: the stored stage is not in `canary.stages` any more
    stage_index: int
    stages: int
    stage_name: str = ""
    weight: int = 0
    bake_seconds: float = 0.0
    baked_fraction: float = 0.0
    ready_at: datetime | None = None
    stage_started_at: datetime
    started_by: str
    pending: str | None = None  # a transition holding the claim ("promote in progress")
    next_label: str = "Promote"


class HomeAwaiting(BaseModel):
    """No canary run, and Flagger holds a revision at confirm-rollout until someone starts it."""

    image: str
    checksum: str


class HomeRollback(BaseModel):
    """A rollback confirmation waiting in a channel for Confirm or Cancel."""

    id: str
    channel: str
    requested_by: str
    current_image: str
    target_image: str
    expires_at: datetime
    canary: CanaryInFlight | None = None  # the run confirming aborts first

    def changes_image(self) -> bool:
        return self.current_image != self.target_image


class HomeView(BaseModel):
    user_id: str
    at: datetime
    target: str  # the engine and the resource it drives (engines.engine_label)
    canary: HomeCanary | None = None
    last_canary_event: str | None = None
    awaiting: HomeAwaiting | None = None  # engine flagger: a revision waiting for a start
    slo: SloStatus | None = None
    alerts: list[Alert] = Field(default_factory=list)
    releases: list[HistoryRecord] = Field(default_factory=list)
    can_promote: bool = False
    can_abort: bool = False
    rollbacks: list[HomeRollback] = Field(default_factory=list)
    can_rollback: bool = False  # the viewer holds `rollback` in the release channel
    release_channel: str = ""


def bake_tenths(fraction: float) -> float:
    """The share of the bake done, floored to 10 %: the unit the tab shows and refreshes on."""
    return int(max(0.0, min(1.0, fraction)) * 10) / 10


def engine_line(view: HomeView) -> str:
    return f"Engine: {view.target}"


def canary_lines(view: HomeView) -> list[str]:
    canary = view.canary
    if canary is None:
        lines = [":zzz: No canary is active."]
        if view.awaiting is not None:
            where = f" in <#{view.release_channel}>" if view.release_channel else ""
            image = view.awaiting.image
            lines = [":zzz: No canary run is active.",
                     f":double_vertical_bar: Flagger waits for approval of revision `{short_image(image)}` "
                     f"(checksum {view.awaiting.checksum[:12]}): Approve on its message{where}, or "
                     f"`/bizra canary start {image}`."]
        if view.last_canary_event:
            lines.append(f"Last: {view.last_canary_event}")
        return lines
    image = short_image(canary.image)
    if canary.stage_number is None:
        return [f":warning: A canary of `{image}` is active at stage {canary.stage_index + 1}, which "
                f"`canary.stages` no longer has ({canary.stages} stages)."]
    lines = [
        f":hatching_chick: Canary stage {canary.stage_number}/{canary.stages} ({canary.stage_name}): "
        f"{canary.weight}% of traffic on `{image}`",
        f"Bake {progress_bar(bake_tenths(canary.baked_fraction))} of {human_seconds(canary.bake_seconds)}"
        + (f" · ready {when(canary.ready_at, slack=True)}" if canary.ready_at else ""),
        f"Stage started {when(canary.stage_started_at, slack=True)} · started by <@{canary.started_by}> "
        f"· canary `{canary.run_id}`",
    ]
    if canary.pending:
        lines.append(f":hourglass_flowing_sand: {canary.pending}")
    return lines


def human_seconds(seconds: float) -> str:
    return human(timedelta(seconds=seconds))


def slo_lines(view: HomeView) -> list[str]:
    status = view.slo
    if status is None:
        return [f"{SLO_ICON[SloState.UNKNOWN]} SLOs: no evaluation recorded yet."]
    lines = [f"{SLO_ICON[status.state]} SLOs {status.state} (evaluated {when(status.at, slack=True)})"]
    lines += [f"• {SLO_ICON[r.state]} {r.name}: {r.state}" for r in status.results if r.state is not SloState.OK]
    return lines


def alert_line(alert: Alert) -> str:
    what = alert.slo or alert.kind.value
    ack = f" · acknowledged by <@{alert.acknowledged_by}>" if alert.acknowledged_by else ""
    return f":rotating_light: `{alert.id}` {what}: {alert.description or alert.detail or alert.kind.value} " \
           f"(since {when(alert.since, slack=True)}){ack}"


def alert_lines(view: HomeView) -> list[str]:
    if not view.alerts:
        return [":white_check_mark: No open alerts."]
    return [f"*Open alerts ({len(view.alerts)})*", *[alert_line(a) for a in view.alerts]]


def rollback_lines(view: HomeView) -> list[str]:
    """Rollback confirmations awaiting a decision, and what the *Roll back…* button does (for those who may)."""
    lines = [f":rewind: Rollback `{r.id}` awaits confirmation in <#{r.channel}>: {rollback_change(r)}, requested by "
             f"{mention(r.requested_by)}, expires {when(r.expires_at, slack=True)}" for r in view.rollbacks]
    if view.can_rollback:
        lines.append(f"*{ROLLBACK_LABEL}* posts a rollback confirmation in <#{view.release_channel}>, for someone "
                     "holding `rollback` to confirm there.")
    return lines


def rollback_change(plan: HomeRollback) -> str:
    """What confirming changes. During a canary run the workload may already run the target (only the
    canary's share of traffic is in the way): then "`a` → `a`" would say nothing, the abort is the change."""
    image_change = f"`{short_digest(plan.current_image)}` → `{short_digest(plan.target_image)}`"
    if plan.canary is None:
        return image_change
    abort = f"aborts canary `{plan.canary.id}` (stage {plan.canary.stage}, `{short_digest(plan.canary.image)}`)"
    if not plan.changes_image():
        return f"{abort}, back to `{short_digest(plan.target_image)}`"
    return f"{abort}, then {image_change}"


def rollback_question(view: HomeView) -> str:
    """The confirm dialog of the *Roll back…* button."""
    return (f"A rollback confirmation mentioning you goes to <#{view.release_channel}>: the newest stable image "
            "that differs from what runs, with a menu to choose another. Nothing changes until someone confirms it "
            "there.")


def release_line(record: HistoryRecord) -> str:
    return (f"#{record.id} `{short_image(record.image)}` {record.outcome} · {when(record.at, slack=True)} "
            f"by {mention(record.by)} ({record.source})")


def release_lines(view: HomeView) -> list[str]:
    if not view.releases:
        return ["*Last releases*", "None recorded yet."]
    return ["*Last releases*", *[release_line(r) for r in view.releases]]


def footer(view: HomeView) -> str:
    return f"As of {when(view.at, slack=True)} · `/bizra help` lists every command"


def home_text(view: HomeView) -> str:
    return "\n".join([HEADER, engine_line(view), *canary_lines(view), *slo_lines(view), *alert_lines(view),
                      *rollback_lines(view), *release_lines(view), footer(view)])
