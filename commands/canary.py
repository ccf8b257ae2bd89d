"""The canary stage machine and promotion policy: what may happen next, and why not.

What flows through: the active canary run (image, stage, when the stage started), the stage list
from config, the SLO watch's per-evaluation states for the stage, the canary's pod counts and the
evidence gates' verdict come in; decisions (start refused or allowed, promotion allowed or blocked
with the exact reasons and the moment it becomes possible) and result models for the renderers go
out. The decision functions are purely computational; `apply_documents` and `complete_release`
are the only steps that act, and they act only through the `Cluster` port.

Policy (seed Phase 3, issue 4): a stage may be promoted when it has baked its full time AND its
SLOs stayed OK for the whole stage: no evaluation in BREACHING, no stretch of UNKNOWN (or of missing
evaluations) longer than the breach window, and a known OK state now. Missing metrics are never
healthy. `--force "<reason>"` bypasses the policy for holders of `canary.force`; the bypassed
blockers are reported and audited.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, Field

from commands.cluster import Cluster, ClusterError, DeploymentState, KubeObject
from commands.last_stable import digest_problem
from commands.slo import SloState


class SloSample(BaseModel):
    """One evaluation of all SLOs by the SLO watch: the worst state, and which SLOs were not OK."""

    at: datetime
    state: SloState
    detail: str = ""


class SloHistory(Protocol):
    """The SLO watch's evaluations in a time range, oldest first."""

    def samples(self, *, start: datetime, end: datetime) -> list[SloSample]: ...


class Stage(BaseModel):
    index: int  # 0-based position in the stage list
    name: str
    manifest: str
    weight: int
    bake: timedelta

    @property
    def number(self) -> int:
        return self.index + 1


class GateVerdict(BaseModel):
    """The evidence gates, reduced to what start needs. `error` set means they could not be evaluated."""

    passed: bool
    failing: list[str] = Field(default_factory=list)
    error: str | None = None


class CanaryRun(BaseModel):
    """The active canary as the store keeps it."""

    id: str
    image: str
    stage: int  # index into the stage list
    stage_started_at: datetime
    started_at: datetime
    started_by: str
    channel: str = ""  # where it was started
    # The run message (its ts is the thread's root, `thread_ts`) and the channel it is in.
    thread_ts: str | None = None
    message_channel: str = ""
    # The stable Deployment's image when the canary started: what abort puts back if completion had begun.
    stable_image: str = ""
    # The engine that runs it (`canary.engine` when it started) and the revision approved for it
    # (`commands.canary_engine.Revision.key`: the pod-template hash, Flagger checksum, or empty for gateway).
    engine: str = "gateway"
    revision: str = ""


class EngineHold(BaseModel):
    """Whether a controller-driven engine holds at the run's stage with the approved revision (the policy's input;
    `commands.canary_engine.hold_of` builds it from what the engine observed)."""

    engine: str
    stage_index: int | None = None
    paused: bool = False
    revision_matches: bool | None = None  # None: not known (no revision approved yet, or none reported)
    found_revision: str = ""
    detail: str = ""


class PodCount(BaseModel):
    ready: int
    desired: int
    error: str | None = None  # the pods could not be read; never counts as ready

    @property
    def all_ready(self) -> bool:
        return self.error is None and self.ready >= self.desired


# -- start ----------------------------------------------------------------------------------------


def start_refusals(*, image: str, repository: str, gates: GateVerdict, active: CanaryRun | None,
                   stable_image: str | None = None) -> list[str]:
    """Why `/bizra canary start <image>` may not run (empty: it may); purely computational."""
    reasons: list[str] = []
    if stable_image is not None and image == stable_image:
        reasons.append(f"`{image}` is already the stable version (the Deployment runs it); there is nothing to "
                       "canary.")
    if active is not None:
        reasons.append(
            f"A canary is already active: `{active.image}` at stage {active.stage + 1}, started by "
            f"<@{active.started_by}>. Promote it to completion or `/bizra canary abort` it first."
        )
    problem = digest_problem(image, repository)
    if problem:
        reasons.append(f"{problem}. Give the image by digest, e.g. `{repository}@sha256:<64 hex>`.")
    if gates.error:
        reasons.append(f"The evidence gates could not be evaluated: {gates.error}. Missing evidence is never a pass.")
    elif not gates.passed:
        failing = ", ".join(f"`{name}`" for name in gates.failing) or "(none named)"
        reasons.append(f"The evidence gates do not pass. Failing: {failing}. Run `/bizra gates` for details.")
    return reasons


# -- SLO record of a stage ------------------------------------------------------------------------


class SloProblemKind(StrEnum):
    BREACH = "breach"
    UNKNOWN_GAP = "unknown_gap"


class SloProblem(BaseModel):
    kind: SloProblemKind
    start: datetime
    end: datetime
    detail: str = ""

    @property
    def length(self) -> timedelta:
        return self.end - self.start


class SloReview(BaseModel):
    """The SLO record of one stage, from its start until now."""

    start: datetime
    end: datetime
    evaluations: int
    state_now: SloState
    detail_now: str = ""
    problems: list[SloProblem] = Field(default_factory=list)
    longest_unknown: timedelta = timedelta(0)

    @property
    def clean(self) -> bool:
        return not self.problems and self.state_now is SloState.OK


def review_slos(samples: Iterable[SloSample], *, start: datetime, end: datetime, gap_limit: timedelta) -> SloReview:
    """Breaches and over-long UNKNOWN stretches in [start, end]; purely computational.

    Time before the first evaluation, between evaluations further apart than `gap_limit`, and after
    the last one counts as UNKNOWN: no evaluation is no evidence.
    """
    ordered = sorted((s for s in samples if start <= s.at <= end), key=lambda s: s.at)
    problems: list[SloProblem] = []
    longest = timedelta(0)
    unknown_since: datetime | None = start
    last_at = start
    breach: SloProblem | None = None

    def close_gap(until: datetime) -> None:
        nonlocal unknown_since, longest
        if unknown_since is not None:
            gap = until - unknown_since
            longest = max(longest, gap)
            if gap > gap_limit:
                problems.append(SloProblem(kind=SloProblemKind.UNKNOWN_GAP, start=unknown_since, end=until,
                                           detail="no known SLO state"))
            unknown_since = None

    for sample in ordered:
        if unknown_since is None and sample.at - last_at > gap_limit:
            unknown_since = last_at  # evaluations stopped arriving: that stretch is unknown
        if sample.state is SloState.UNKNOWN:
            if unknown_since is None:
                unknown_since = sample.at
            breach = None
        else:
            close_gap(sample.at)
            if sample.state is SloState.BREACHING:
                if breach is None:
                    breach = SloProblem(kind=SloProblemKind.BREACH, start=sample.at, end=sample.at,
                                        detail=sample.detail)
                    problems.append(breach)
                else:
                    breach.end = sample.at
            else:
                breach = None
        last_at = sample.at
    if unknown_since is None and end - last_at > gap_limit:
        unknown_since = last_at
    close_gap(end)
    latest = ordered[-1] if ordered else None
    state_now = latest.state if latest and end - latest.at <= gap_limit else SloState.UNKNOWN
    detail_now = latest.detail if latest else "no SLO evaluation recorded in this stage"
    return SloReview(start=start, end=end, evaluations=len(ordered), state_now=state_now, detail_now=detail_now,
                     problems=problems, longest_unknown=longest)


# -- promotion ------------------------------------------------------------------------------------


class Blocker(BaseModel):
    reason: str
    # When the blocker clears by itself (the bake ends); None: no known time.
    clears_at: datetime | None = None
    # True: nothing clears it in this stage (a breach or a long UNKNOWN stretch is on the stage's record).
    permanent: bool = False


class PromotionCheck(BaseModel):
    """Can the active stage be promoted now, and if not, exactly why and when."""

    stage: Stage
    next_stage: Stage | None  # None: promoting completes the release
    baked: timedelta
    left: timedelta
    ready_at: datetime
    slo: SloReview
    pods: PodCount | None = None
    blockers: list[Blocker] = Field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.blockers

    @property
    def waiting_helps(self) -> bool:
        return not any(b.permanent for b in self.blockers)

    @property
    def possible_at(self) -> datetime | None:
        """The earliest moment promotion can become possible; None when waiting is not enough (or now)."""
        if not self.waiting_helps:
            return None
        return max((b.clears_at for b in self.blockers if b.clears_at), default=None)

    @property
    def conditions(self) -> list[str]:
        """Blockers with no known end that must clear besides the bake (SLO state known and OK, pods ready)."""
        return [b.reason for b in self.blockers if b.clears_at is None and not b.permanent]


def _minutes(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    return f"{secs}s"


def human(delta: timedelta) -> str:
    """A duration as people read it (1h05m, 12m, 40s)."""
    return _minutes(delta)


def _at(when: datetime) -> str:
    return when.strftime("%H:%M:%S UTC")


def check_promotion(*, run: CanaryRun, stages: Sequence[Stage], now: datetime, samples: Iterable[SloSample],
                    gap_limit: timedelta, pods: PodCount | None, require_ready: bool,
                    hold: EngineHold | None = None) -> PromotionCheck:
    """The promotion policy for the active stage; purely computational.

    `hold` (controller-driven engines): the stage counts only while the controller holds at it
    with the approved revision; a different revision blocks for good (its approval is void).
    """
    stage = stages[run.stage]
    next_stage = stages[run.stage + 1] if run.stage + 1 < len(stages) else None
    baked = max(timedelta(0), now - run.stage_started_at)
    ready_at = run.stage_started_at + stage.bake
    left = max(timedelta(0), ready_at - now)
    slo = review_slos(samples, start=run.stage_started_at, end=now, gap_limit=gap_limit)
    blockers: list[Blocker] = []
    if left > timedelta(0):
        blockers.append(Blocker(
            reason=f"Stage {stage.number} ({stage.name}) has baked {human(baked)} of {human(stage.bake)}; "
                   f"{human(left)} left (until {_at(ready_at)}).",
            clears_at=ready_at,
        ))
    for problem in slo.problems:
        if problem.kind is SloProblemKind.BREACH:
            span = _at(problem.start) if problem.start == problem.end else f"{_at(problem.start)}–{_at(problem.end)}"
            blockers.append(Blocker(
                reason=f"An SLO breached during this stage ({span}: {problem.detail or 'threshold crossed'}); "
                       "the policy needs SLOs OK for the whole stage.", permanent=True))
        else:
            blockers.append(Blocker(
                reason=f"The SLO state was UNKNOWN for {human(problem.length)} ({_at(problem.start)}–"
                       f"{_at(problem.end)}), longer than the {human(gap_limit)} breach window; missing metrics "
                       "are not healthy.", permanent=True))
    # A breach now is already a breach problem; an UNKNOWN now that is not yet an over-long gap still blocks.
    if slo.state_now is SloState.UNKNOWN and not any(
        p.end == now and p.kind is SloProblemKind.UNKNOWN_GAP for p in slo.problems
    ):
        detail = f" ({slo.detail_now})" if slo.detail_now else ""
        blockers.append(Blocker(reason=f"The SLO state now is {slo.state_now}{detail}; promotion needs a known OK "
                                       "state."))
    if require_ready and pods is not None and not pods.all_ready:
        if pods.error:
            blockers.append(Blocker(reason=f"The canary pods could not be read: {pods.error}"))
        else:
            blockers.append(Blocker(reason=f"Canary pods ready {pods.ready}/{pods.desired}; every pod must be ready."))
    blockers.extend(_hold_blockers(hold, stage))
    return PromotionCheck(stage=stage, next_stage=next_stage, baked=baked, left=left, ready_at=ready_at, slo=slo,
                          pods=pods, blockers=blockers)


def _hold_blockers(hold: EngineHold | None, stage: Stage) -> list[Blocker]:
    if hold is None:
        return []
    if hold.revision_matches is False:
        return [Blocker(reason=f"The {hold.engine} engine runs another revision (`{hold.found_revision}`) than the one "
                               "approved for this run; the approval is void. Abort this run and start one for the new "
                               "revision.", permanent=True)]
    if hold.stage_index != stage.index or not hold.paused:
        return [Blocker(reason=f"The {hold.engine} engine is not holding at stage {stage.number} ({stage.name}) yet: "
                               f"{hold.detail}.")]
    return []


# -- manifests and applying them ------------------------------------------------------------------


class ManifestError(Exception):
    """A stage manifest cannot be used; the message says which file and what to fix."""


def substitute_image(documents: Sequence[KubeObject], *, placeholder: str, image: str,
                     source: str) -> list[KubeObject]:
    """Copies of the documents with every container image equal to `placeholder` set to `image`.

    Refuses (ManifestError) a manifest without the placeholder: applying it would not deploy the
    canary image at all.
    """
    result = copy.deepcopy([doc for doc in documents if doc])
    found = 0
    for doc in result:
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            raise ManifestError(f"{source}: every document needs apiVersion and kind.")
        pod_spec = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or []):
            if container.get("image") == placeholder:
                container["image"] = image
                found += 1
    if not found:
        raise ManifestError(f"{source} has no container with image `{placeholder}`, so the canary image cannot be "
                            "set; put the placeholder where the canary image goes.")
    return result


def describe(doc: KubeObject) -> str:
    meta = doc.get("metadata") or {}
    return f"{doc.get('kind')}/{meta.get('name')}"


class ApplyFailed(Exception):
    """Some documents of a manifest were applied, then one failed."""

    def __init__(self, error: ClusterError, *, applied: list[str], failed: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.applied = applied
        self.failed = failed


def restore_stable_image(cluster: Cluster, *, namespace: str, deployment: str, container: str,
                         run: CanaryRun) -> str | None:
    """Undo a completion that had begun: put the stable Deployment back on the image it ran at start.

    Only when it runs the canary image now (conditioned on that, so a rollback made meanwhile is left
    alone); returns what was done, or None when nothing needed doing.
    """
    if not run.stable_image or run.stable_image == run.image:
        return None
    state = cluster.read_deployment(namespace=namespace, name=deployment)
    if state.images.get(container) != run.image:
        return None
    cluster.set_container_image(namespace=namespace, name=deployment, container=container, image=run.stable_image,
                                expect_image=run.image)
    return f"Deployment/{deployment} image back to {run.stable_image}"


def apply_documents(cluster: Cluster, documents: Sequence[KubeObject], *, namespace: str) -> list[str]:
    """Server-side apply each document in file order (capacity before traffic, or traffic before capacity)."""
    applied: list[str] = []
    for doc in documents:
        try:
            cluster.apply(doc, namespace=namespace)
        except ClusterError as exc:
            raise ApplyFailed(exc, applied=applied, failed=describe(doc)) from exc
        applied.append(describe(doc))
    return applied


class CompletionStep(StrEnum):
    DONE = "done"
    STABLE_ROLLING_OUT = "stable_rolling_out"


class Completion(BaseModel):
    step: CompletionStep
    stable_ready: int = 0
    stable_desired: int = 0
    applied: list[str] = Field(default_factory=list)
    source: str = ""  # what was applied, for the audit


def _rolled(state: DeploymentState) -> int:
    return min(state.updated_replicas, state.available_replicas)


def complete_release(cluster: Cluster, *, namespace: str, deployment: str, container: str, image: str,
                     stable_documents: Sequence[KubeObject]) -> Completion:
    """Finish a release whose last stage baked: the stable Deployment takes the canary image, then
    (once it has rolled out) traffic returns to it and the canary scales to zero.

    Each step is idempotent, so a completion interrupted anywhere is finished by running it again;
    traffic never moves to a stable Deployment that has not rolled out the released image.
    """
    state = cluster.set_container_image(namespace=namespace, name=deployment, container=container, image=image)
    if not state.rolled_out:
        state = cluster.read_deployment(namespace=namespace, name=deployment)
    if not state.rolled_out:
        return Completion(step=CompletionStep.STABLE_ROLLING_OUT, stable_ready=_rolled(state),
                          stable_desired=state.desired_replicas)
    applied = apply_documents(cluster, stable_documents, namespace=namespace)
    return Completion(step=CompletionStep.DONE, stable_ready=_rolled(state),
                      stable_desired=state.desired_replicas, applied=applied)


# -- results for the renderers --------------------------------------------------------------------


class CanaryAction(StrEnum):
    START = "start"
    PROMOTE = "promote"
    ABORT = "abort"
    STATUS = "status"


class CanaryRefused(BaseModel):
    """A canary command that did not run, with every reason and when it can."""

    action: CanaryAction
    reasons: list[str]
    possible_at: datetime | None = None
    # Promotion refusals: False when waiting cannot make the stage promotable; conditions besides the bake.
    waiting_helps: bool = True
    conditions: list[str] = Field(default_factory=list)
    hint: str = ""


class CanaryStarted(BaseModel):
    run: CanaryRun
    stage: Stage
    stages: int
    applied: list[str]
    note: str = ""  # what the engine's controller did (argo-rollouts: reached the pause, or not yet)


class CanaryPromoted(BaseModel):
    run: CanaryRun
    from_stage: Stage
    to_stage: Stage
    stages: int
    by: str
    applied: list[str]
    forced_reason: str | None = None
    bypassed: list[str] = Field(default_factory=list)
    note: str = ""  # what the engine's controller did


class CanaryCompleted(BaseModel):
    run: CanaryRun
    by: str
    applied: list[str]
    forced_reason: str | None = None
    bypassed: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class CanaryCompletionPending(BaseModel):
    """Stage 3 baked; the stable side is taking the image (the stable Deployment rolling out, Flagger promoting,
    the Rollout finishing); traffic stays on the canary until it has. `run.engine` says who finishes it."""

    run: CanaryRun
    stable_ready: int
    stable_desired: int


class CanaryApplyFailed(BaseModel):
    """A stage change failed in the cluster; the recorded stage did not move."""

    action: CanaryAction
    run: CanaryRun | None
    target: str
    applied: list[str]
    failed: str
    error: str
    restored: bool | None = None  # None: nothing needed restoring
    restore_error: str | None = None


class CanaryAborted(BaseModel):
    run: CanaryRun
    stage: Stage
    by: str
    reason: str
    automatic: bool = False
    applied: list[str] = Field(default_factory=list)
    error: str | None = None  # traffic could not be returned: the canary stays recorded as active
    paged: str | None = None


class EngineView(BaseModel):
    """A controller-driven engine's resource as `/bizra canary status` shows it (the gateway engine has none)."""

    engine: str
    resource: str = ""
    phase: str = ""
    weight: int | None = None
    revision: str = ""
    stable_revision: str = ""
    message: str = ""
    conditions: list[str] = Field(default_factory=list)
    last_transition: datetime | None = None
    error: str | None = None
    # No run active, and the controller holds a revision until it is started (Flagger at confirm-rollout):
    awaiting_image: str = ""     # the image to `/bizra canary start`
    awaiting_revision: str = ""  # its identity as the engine binds approvals (checksum, pod template)
    message_channel: str = ""    # the engine's own message about it (Approve / Deny), when it posted one
    message_ts: str = ""
    permalink: str | None = None  # Slack's link to that message (filled by the Slack handler)


class CanaryStatus(BaseModel):
    active: bool
    run: CanaryRun | None = None
    stage: Stage | None = None
    stages: int = 0
    check: PromotionCheck | None = None
    pending: str | None = None  # a transition in flight
    last_event: str | None = None
    engine: EngineView | None = None  # what the controller shows (argo-rollouts, flagger)


# -- the run message ------------------------------------------------------------------------------


class RunOutcome(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    ABORTED = "aborted"
    ROLLED_BACK = "rolled_back"  # aborted by auto-rollback


class CanaryRunMessage(BaseModel):
    """The canary run as one living message: while active the status (stage, bake, SLO record, pods)
    with Promote and Abort; once over, how it ended. `last_step` is the latest line of its thread."""

    status: CanaryStatus
    outcome: RunOutcome = RunOutcome.ACTIVE
    last_step: str = ""
    ended_by: str | None = None
    ended_at: datetime | None = None
    reason: str | None = None
    buttons: bool = True  # False on an ephemeral copy for someone who only reads

    @property
    def run(self) -> CanaryRun | None:
        return self.status.run


class CanaryNotice(BaseModel):
    """The answer to whoever ran a step: the step itself went to the run's thread; this points at it."""

    step: BaseModel
    channel: str | None = None
    permalink: str | None = None


def bake_fraction(check: PromotionCheck) -> float:
    """How much of the stage's bake is done, 0..1."""
    total = check.stage.bake.total_seconds()
    return 1.0 if total <= 0 else min(1.0, max(0.0, check.baked.total_seconds() / total))


def short_image(image: str, *, hex_chars: int = 12) -> str:
    """`repo@sha256:<first 12 hex>…` (a tag is shown as it is)."""
    repo, sep, digest = image.partition("@sha256:")
    if not sep or len(digest) <= hex_chars:
        return image
    return f"{repo}@sha256:{digest[:hex_chars]}…"
