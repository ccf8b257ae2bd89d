"""The rollback procedure: plan (what would change), then execute (patch by digest, follow the rollout).

Planning only reads: it resolves the last stable image (commands/last_stable.py), reads what the
Deployment runs now, and returns the exact change for a person to confirm, or a refusal saying
what to do. Executing sets the one container's image, conditioned on the image that was shown,
then polls the Deployment on the injected clock until the rollout is healthy
(observedGeneration >= generation, updated == available == desired) or the deadline passes. Time
to recovery is measured from the command to the healthy rollout. Posting, storing and writing
the incident bundle are the caller's (bot/features/rollback/handlers.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from commands.cluster import Cluster, ClusterError, ClusterErrorKind, DeploymentState
from commands.last_stable import (
    HistoryRecord,
    LastStable,
    LastStableRefused,
    ReleaseOutcome,
    ReleaseTarget,
    StableHistory,
    chosen_target,
    digest_problem,
    resolve_last_stable,
)
from commands.ports import Clock


class TargetChoice(BaseModel):
    """A release the confirmation's select menu offers as the target."""

    release: int
    image: str
    outcome: ReleaseOutcome
    at: datetime
    by: str


class CanaryInFlight(BaseModel):
    """The canary run active when the rollback was planned: confirming aborts it first (docs/rollback.md)."""

    id: str
    image: str  # what the canary serves
    stable_image: str  # what was stable when it started: the rollback's default target
    stage: int  # 1-based
    stage_name: str
    weight: int | None = None
    engine: str = "gateway"
    stable_from: str = ""  # what the engine read the stable image from, e.g. "the Rollout"


class RollbackPlan(BaseModel):
    """The change a confirmation shows; executing it changes exactly this."""

    id: str
    namespace: str
    deployment: str
    container: str
    current_image: str
    target_image: str
    source: str
    source_detail: str
    reason: str
    requested_by: str
    channel: str
    requested_at: datetime
    expires_at: datetime
    # Added with the target choice (old stored plans lack them): the history entry the target is,
    # who chose it when it is not the default (`--to`, the select menu), and what the menu offers.
    target_release: HistoryRecord | None = None
    chosen_by: str | None = None
    chosen_as: str | None = None
    choices: list[TargetChoice] = Field(default_factory=list)
    # The canary run that was active when planned (added with "rollback ends the canary"): aborted first.
    canary: CanaryInFlight | None = None

    @property
    def changes_image(self) -> bool:
        """False when only the canary is in the way: the workload already runs the target (gateway engine)."""
        return self.current_image != self.target_image


MAX_CHOICES = 10


class RollbackRefused(BaseModel):
    """Nothing was changed; `reason` says why and `what_to_do` what the person can do."""

    reason: str
    what_to_do: str = ""


class RolloutProgress(BaseModel):
    at: datetime
    elapsed_seconds: float
    generation: int
    observed_generation: int
    desired: int
    updated: int
    available: int
    ready: int

    @classmethod
    def of(cls, state: DeploymentState, *, at: datetime, since: datetime) -> RolloutProgress:
        return cls(at=at, elapsed_seconds=(at - since).total_seconds(), generation=state.generation,
                   observed_generation=state.observed_generation, desired=state.desired_replicas,
                   updated=state.updated_replicas, available=state.available_replicas, ready=state.ready_replicas)

    def key(self) -> tuple[int, int, int, int, int, int]:
        return (self.generation, self.observed_generation, self.desired, self.updated, self.available, self.ready)


class RollbackOutcome(StrEnum):
    RECOVERED = "recovered"
    TIMED_OUT = "timed_out"
    FAILED = "failed"
    NOT_APPLIED = "not_applied"


class RollbackResult(BaseModel):
    plan: RollbackPlan
    outcome: RollbackOutcome
    confirmed_by: str
    confirmed_at: datetime
    finished_at: datetime
    # From the command (plan.requested_at) to the healthy rollout; None when it never got healthy.
    time_to_recovery_seconds: float | None = None
    # From the confirmation click to the healthy rollout (how long the cluster took).
    rollout_seconds: float | None = None
    message: str
    image_after: str | None = None
    progress: list[RolloutProgress] = Field(default_factory=list)
    bundle_path: str | None = None
    warnings: list[str] = Field(default_factory=list)
    # Set when another process finished this rollback after its executor was lost (crash, kill -9).
    resumed_by: str | None = None
    # What ending the active canary run first did (mrkdwn line), when one was active.
    canary_note: str | None = None


def plan_rollback(*, cluster: Cluster, history: StableHistory, target: ReleaseTarget, now: datetime,
                  expires_in: timedelta, plan_id: str, reason: str, requested_by: str,
                  channel: str, to: str | None = None, chosen_by: str | None = None,
                  canary: CanaryInFlight | None = None) -> RollbackPlan | RollbackRefused:
    """Read the current image and resolve the target; reads only. ClusterError becomes a refusal.

    Without `to`, the target is the newest stable image that differs from what runs now; with it,
    the release or digest the person chose (`chosen_by`, default the requester). With a canary
    active (`canary`), the default target is the stable image from before it (whatever the history
    says), and a workload that already runs it is no refusal: aborting the canary is the change.
    """
    try:
        current = cluster.read_deployment(namespace=target.namespace, name=target.deployment)
        running = current.images.get(target.container)
        if running is None:
            return RollbackRefused(
                reason=f"{target.namespace}/{target.deployment} has no container `{target.container}` "
                f"(it has {', '.join(current.images) or 'none'}).",
                what_to_do="Check release.container in the config.",
            )
        if to:
            stable: LastStable | LastStableRefused = chosen_target(to, history=history, target=target)
        elif canary is not None and canary.stable_image:
            stable = _before_canary(canary, target)
        else:
            stable = resolve_last_stable(history=history, cluster=cluster, target=target, running=running)
        if isinstance(stable, LastStableRefused):
            return RollbackRefused(reason=stable.reason, what_to_do=stable.what_to_do)
        offered = history.stable(limit=50)
    except ClusterError as exc:
        return RollbackRefused(reason=str(exc), what_to_do="Fix the cause and run the rollback again, or follow "
                               "ops/runbooks/CANARY-ROLLBACK.md by hand.")
    if running == stable.image and canary is None:
        return RollbackRefused(
            reason=f"{target.namespace}/{target.deployment} already runs "
            + ("the last stable image" if not to else "the image you chose,") + f" {stable.image} "
            f"(from the {stable.source}).",
            what_to_do="A rollback would change nothing. Look at the SLO alert and the pods instead; "
            "`/bizra canary abort` if a canary is taking traffic. `/bizra history` lists other releases.",
        )
    choices: list[TargetChoice] = []
    seen = {running}
    for record in offered:
        if record.image in seen:
            continue
        seen.add(record.image)
        choices.append(TargetChoice(release=record.id, image=record.image, outcome=record.outcome, at=record.at,
                                    by=record.by))
        if len(choices) == MAX_CHOICES:
            break
    return RollbackPlan(
        id=plan_id, namespace=target.namespace, deployment=target.deployment, container=target.container,
        current_image=running, target_image=stable.image, source=str(stable.source), source_detail=stable.detail,
        reason=reason, requested_by=requested_by, channel=channel, requested_at=now, expires_at=now + expires_in,
        target_release=stable.record, chosen_by=(chosen_by or requested_by) if to else None, chosen_as=to,
        choices=choices, canary=canary,
    )


def _before_canary(canary: CanaryInFlight, target: ReleaseTarget) -> LastStable | LastStableRefused:
    """The image that was stable when canary `canary.id` started (the canary's own record of it)."""
    problem = digest_problem(canary.stable_image, target.repository)
    if problem:
        return LastStableRefused(
            reason=f"Canary `{canary.id}` recorded {problem} as the stable image before it; the bot only rolls "
            "back to a digest it can verify.",
            what_to_do="Choose the target with `/bizra rollback --to <release #|digest>` (`/bizra history` lists "
            "them).")
    return LastStable(image=canary.stable_image.strip(), source=CANARY_SOURCE,
                      detail=f"what {canary.stable_from or 'the engine'} ran as stable when canary `{canary.id}` "
                             f"started (stage {canary.stage} now)")


CANARY_SOURCE = "canary run's stable image"


def execute_rollback(*, cluster: Cluster, clock: Clock, plan: RollbackPlan, confirmed_by: str,
                     deadline_seconds: float, poll_seconds: float, wait: Callable[[float], None],
                     on_progress: Callable[[RolloutProgress], None]) -> RollbackResult:
    """Patch the image (conditioned on the confirmed current image), then follow the rollout.

    `wait(seconds)` pauses between polls (real time in the bot); the deadline is on `clock`.
    `on_progress` is called whenever the rollout's numbers change.
    """
    confirmed_at = clock.now()

    def result(outcome: RollbackOutcome, message: str, **extra: object) -> RollbackResult:
        return RollbackResult(plan=plan, outcome=outcome, confirmed_by=confirmed_by, confirmed_at=confirmed_at,
                              finished_at=clock.now(), message=message, **extra)

    try:
        cluster.set_container_image(namespace=plan.namespace, name=plan.deployment, container=plan.container,
                                    image=plan.target_image, expect_image=plan.current_image)
    except ClusterError as exc:
        return result(RollbackOutcome.NOT_APPLIED, _not_applied(exc, cluster, plan))

    return follow_rollout(cluster=cluster, clock=clock, plan=plan, confirmed_by=confirmed_by,
                          confirmed_at=confirmed_at, deadline_seconds=deadline_seconds, poll_seconds=poll_seconds,
                          wait=wait, on_progress=on_progress)


def follow_rollout(*, cluster: Cluster, clock: Clock, plan: RollbackPlan, confirmed_by: str, confirmed_at: datetime,
                   deadline_seconds: float, poll_seconds: float, wait: Callable[[float], None],
                   on_progress: Callable[[RolloutProgress], None]) -> RollbackResult:
    """Poll the Deployment until the rollout is healthy, fails, or `confirmed_at + deadline_seconds` passes.

    The Deployment is read at least once, even past the deadline (a replica resuming a rollback whose
    executor was lost may start late). `wait` is called between polls.
    """

    def result(outcome: RollbackOutcome, message: str, **extra: object) -> RollbackResult:
        return RollbackResult(plan=plan, outcome=outcome, confirmed_by=confirmed_by, confirmed_at=confirmed_at,
                              finished_at=clock.now(), message=message, **extra)

    deadline = confirmed_at + timedelta(seconds=deadline_seconds)
    progress: list[RolloutProgress] = []
    last_error = ""
    while True:
        now = clock.now()
        try:
            state = cluster.read_deployment(namespace=plan.namespace, name=plan.deployment)
        except ClusterError as exc:
            state, last_error = None, str(exc)
        if state is not None:
            point = RolloutProgress.of(state, at=now, since=confirmed_at)
            if not progress or progress[-1].key() != point.key():
                progress.append(point)
                on_progress(point)
            if state.images.get(plan.container) != plan.target_image:
                return result(RollbackOutcome.FAILED, f"Container `{plan.container}` now runs "
                              f"{state.images.get(plan.container)}: someone changed the Deployment during the "
                              "rollback. Check who (the audit log, `kubectl rollout history`) before acting again.",
                              progress=progress, image_after=state.images.get(plan.container))
            if state.rolled_out:
                return result(RollbackOutcome.RECOVERED, "The rollout is healthy.", progress=progress,
                              image_after=plan.target_image,
                              time_to_recovery_seconds=(now - plan.requested_at).total_seconds(),
                              rollout_seconds=(now - confirmed_at).total_seconds())
            if state.progress_deadline_exceeded:
                return result(RollbackOutcome.FAILED, "Kubernetes reports ProgressDeadlineExceeded: the restored "
                              "pods do not become available. Look at the pods and events in the incident bundle.",
                              progress=progress, image_after=plan.target_image)
        if now >= deadline:
            waited = f"{deadline_seconds:.0f} s"
            detail = f" Last API error: {last_error}" if last_error else ""
            return result(RollbackOutcome.TIMED_OUT, f"The image was set to {plan.target_image}, but the rollout "
                          f"was not healthy within {waited}.{detail} Look at the pods and events in the incident "
                          "bundle; the change stays applied.", progress=progress, image_after=plan.target_image)
        wait(poll_seconds)


def resume_problem(plan: RollbackPlan, running: str | None) -> str | None:
    """Can a rollback whose executor was lost be followed? None when its image change is in place; else why not.

    The image still being the one the confirmation showed means the patch never landed: nothing was
    changed, and nothing is applied without a person confirming again.
    """
    if running == plan.target_image:
        return None
    if running == plan.current_image:
        return (f"The image change never reached the cluster: container `{plan.container}` still runs "
                f"{running}. Nothing was changed; run `/bizra rollback` again to confirm a fresh rollback.")
    return (f"Container `{plan.container}` now runs {running or 'nothing'}, neither the image shown "
            f"({plan.current_image}) nor the target ({plan.target_image}): someone changed the Deployment. "
            "Check who (the audit log, `kubectl rollout history`) before acting again.")


def _not_applied(error: ClusterError, cluster: Cluster, plan: RollbackPlan) -> str:
    """Say what happened and what the Deployment runs now (re-read, so 'nothing changed' is checked)."""
    try:
        now_running = cluster.read_deployment(namespace=plan.namespace, name=plan.deployment).images.get(plan.container)
        state = f" The Deployment still runs {now_running}." if now_running else ""
    except ClusterError:
        state = " The Deployment could not be re-read to confirm its state; check it with kubectl."
    advice = {
        ClusterErrorKind.PRECONDITION: " Run `/bizra rollback` again to see the current state.",
        ClusterErrorKind.FORBIDDEN: "",
        ClusterErrorKind.CONFLICT: "",
    }.get(error.kind, " Retry the rollback when the API server answers, or follow ops/runbooks/CANARY-ROLLBACK.md.")
    return f"The rollback was not applied: {error}{state}{advice}"
