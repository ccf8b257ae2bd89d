"""The canary engine port: what moves traffic between the stable and the canary revision.

The promotion policy (full bake, SLOs OK the whole stage, pods ready; `--force` with a reason) lives
once in `commands.canary` and the flow (`bot/features/canary/flow.py`) applies it the same way for
every engine: an engine never decides whether a stage may be promoted, it only carries out what the
flow decided, and reports what the cluster shows. Engines (`canary.engine` in bizra.yaml):

- `gateway` (bot/features/canary/engines/gateway.py): the bot applies the Gateway API HTTPRoute
  stage manifests in ops/canary/ itself; `begin`/`advance` apply a stage, `complete` moves the
  stable Deployment to the canary image and then traffic back to it, `abort` applies stable.yaml.
- `argo-rollouts` (engines/argo_rollouts.py): the Argo Rollouts controller moves traffic; the bot
  sets the image on the Rollout's pod template (`begin`), clears the pause the controller holds
  at each stage (`advance`, what `kubectl argo rollouts promote` does) and sets `status.abort`.
- `flagger` (bot/features/canary/flagger/): a controller-driven engine, see below.

How a controller-driven engine fits (Flagger). Flagger runs the canary itself and *asks* the bot,
through its webhooks, whether it may go on (confirm-rollout, confirm-traffic-increase,
confirm-promotion, rollback). So its engine's methods record decisions instead of acting:
`begin` records "rollout of revision R is approved" (the next confirm-rollout for R answers 200),
`advance(run, from_stage, to_stage, grant)` records "promotion to stage N is granted for revision R
by `grant.actor`" (the next confirm-traffic-increase for R at that step answers 200; the controller
then shifts the weight on its own schedule), `complete` records the grant for confirm-promotion,
`abort` records that the rollback hook answers 200 for R. The `Grant` carries the `--force` reason
when the policy was bypassed, so the engine carries a forced step through without re-judging it,
and finishes a forced completion without a second force. `observe` reads the Canary resource's
status; with no run it also reports a revision Flagger holds for a start (`awaiting`). The flow
does not care whether a method acted or recorded: it claims the transition in the store, calls
the engine, and records the stage only when the engine returned without raising. Every revision
identity (`Revision`: image digest, pod-template hash, Flagger checksum) binds a decision to one
revision; an engine that sees a different revision than the one approved raises
`RevisionChanged` and the flow refuses, saying so.

Errors: every method raises `EngineFailed` (what was done before the failure, what failed, whether
the previous state was restored) or `RevisionChanged`; a `ClusterError` from the port below may
also escape from `observe`/`stable_image`/`check_start` (the flow reports it; nothing was changed).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, Field

from commands.canary import CanaryRun, Completion, EngineHold, EngineView, PodCount, Stage


class EngineKind(StrEnum):
    GATEWAY = "gateway"
    FLAGGER = "flagger"
    ARGO_ROLLOUTS = "argo-rollouts"


class EnginePhase(StrEnum):
    """What the engine shows now, in words common to every engine."""

    IDLE = "idle"                # no canary revision: all traffic on stable
    PROGRESSING = "progressing"  # moving towards a stage (scaling, shifting weight, waiting for the controller)
    PAUSED = "paused"            # holding at a stage, waiting for the bot's promotion
    COMPLETED = "completed"      # the canary revision is the stable one now
    ABORTED = "aborted"          # traffic went back to stable (abort, rollback)
    DEGRADED = "degraded"        # the controller reports a failure
    UNKNOWN = "unknown"          # could not be read


class Revision(BaseModel):
    """One revision's identity as the engine sees it; empty fields are unknown to this engine."""

    image: str = ""
    pod_hash: str = ""   # Argo: status.currentPodHash / the ReplicaSet's rollouts-pod-template-hash
    checksum: str = ""   # Flagger: the checksum in its webhook payloads

    @property
    def key(self) -> str:
        """What an approval is bound to: the pod hash, else the checksum, else the image."""
        return self.pod_hash or self.checksum or self.image


class EngineCondition(BaseModel):
    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition: datetime | None = None


class EngineObservation(BaseModel):
    """What the engine's resources say now (`/bizra canary status`, the run message, the policy's pods)."""

    engine: EngineKind
    phase: EnginePhase
    weight: int | None = None        # percent of traffic on the canary revision, when known
    stage_index: int | None = None   # the seed stage (0-based) the engine is at or moving to, when known
    paused: bool = False             # holding at `stage_index`, waiting for a promotion
    revision: Revision | None = None         # the revision under test (the canary)
    stable_revision: Revision | None = None  # the revision that takes the traffic when the canary is aborted
    pods: PodCount = Field(default_factory=lambda: PodCount(ready=0, desired=0, error="not observed"))
    conditions: list[EngineCondition] = Field(default_factory=list)
    message: str = ""
    last_transition: datetime | None = None
    resource: str = ""               # e.g. "Rollout bizra-production/node0"
    error: str | None = None         # set when the resources could not be read (never a healthy state)
    # A revision the controller asks to roll out and holds until `/bizra canary start` (Flagger at
    # confirm-rollout), and the engine's own message about it; only when no run is active.
    awaiting: Revision | None = None
    awaiting_message: MessageRef | None = None


class Grant(BaseModel):
    """Whom the flow carries a step out for, as the policy decided it: the engine records it with the step.

    A controller-driven engine answers the controller later (Flagger's webhooks), so it keeps who granted
    the step and whether it was forced: a forced step is carried through on the force given once, never
    re-judged against the policy it bypassed.
    """

    actor: str
    forced_reason: str | None = None  # `--force "<reason>"` bypassed the policy for this step (audited)
    reason: str = ""                  # abort: why

    @property
    def forced(self) -> bool:
        return self.forced_reason is not None


class MessageRef(BaseModel):
    """A Slack message an engine posted itself (Flagger: the run message with Approve / Deny)."""

    channel: str
    ts: str


class EngineStep(BaseModel):
    """What an engine did for begin/advance/abort: the objects it changed, in order."""

    applied: list[str] = Field(default_factory=list)
    source: str = ""   # what was applied, for the audit (`applied <source>: <applied>`)
    revision: Revision | None = None  # the revision the step was bound to (begin: the one now approved)
    note: str = ""     # a sentence for the thread, e.g. "the controller reached the 10% pause"


class EngineFailed(Exception):
    """A step failed in the cluster; nothing was recorded. `restored`: None when nothing needed restoring."""

    def __init__(self, error: str, *, failed: str, applied: list[str] | None = None, restored: bool | None = None,
                 restore_error: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.failed = failed
        self.applied = list(applied or [])
        self.restored = restored
        self.restore_error = restore_error


class RevisionChanged(Exception):
    """The engine now runs a different revision than the one approved for this run: nothing was done."""

    def __init__(self, message: str, *, approved: Revision, found: Revision) -> None:
        super().__init__(message)
        self.approved = approved
        self.found = found


class CanaryEngine(Protocol):
    """An engine of `canary.engine`. The flow holds the store's transition claim around every call.

    Every method may block for a bounded time following the controller (never longer than the
    engine's own `follow_seconds`); none decides promotion.
    """

    kind: EngineKind
    stable_label: str  # how refusals name what `stable_image` reads, e.g. "The stable Deployment"

    def stable_image(self) -> str:
        """The image serving all traffic when no canary runs (start refuses a canary of it). ClusterError."""
        ...

    def check_start(self, image: str) -> list[str]:
        """Why this engine cannot start a canary of `image` now (missing resource, unusable manifest, another
        revision in flight); empty when it can. Reads only."""
        ...

    def check_advance(self, run: CanaryRun, *, from_stage: Stage, to_stage: Stage | None) -> list[str]:
        """Why a promotion cannot be carried out (not whether it is allowed: that is the policy's); reads only.
        `to_stage` None: the promotion completes the release."""
        ...

    def check_abort(self, run: CanaryRun) -> list[str]:
        """Why an abort cannot be carried out (e.g. an unusable manifest); reads only."""
        ...

    def begin(self, run: CanaryRun, stage: Stage) -> EngineStep:
        """Start stage 1 of the approved image `run.image`; the step's revision is what later steps bind to."""
        ...

    def advance(self, run: CanaryRun, *, from_stage: Stage, to_stage: Stage, grant: Grant) -> EngineStep:
        """Move from `from_stage` to `to_stage` for exactly the revision `run.revision` (RevisionChanged otherwise),
        for `grant.actor` (forced past the policy when `grant.forced_reason` is set)."""
        ...

    def complete(self, run: CanaryRun, stage: Stage, *, grant: Grant) -> Completion:
        """The last stage baked (or the policy was forced, `grant.forced_reason`): make the canary revision the
        stable one. Idempotent (run again to finish; a controller-driven engine may finish it itself)."""
        ...

    def abort(self, run: CanaryRun, *, grant: Grant) -> EngineStep:
        """All traffic back to the stable revision (what was stable when the run started); `grant.reason` says why."""
        ...

    def observe(self, run: CanaryRun | None) -> EngineObservation:
        """The engine's state now; never raises (an unreadable state is `error` with phase UNKNOWN)."""
        ...


def hold_of(observation: EngineObservation, run: CanaryRun) -> EngineHold:
    """What the policy needs from an observation: is the engine holding at the run's stage, with its revision."""
    matches: bool | None = None
    if run.revision and observation.revision is not None and observation.revision.key:
        matches = observation.revision.key == run.revision
    detail = observation.error or observation.message or str(observation.phase)
    return EngineHold(engine=str(observation.engine), stage_index=observation.stage_index,
                      paused=observation.paused, revision_matches=matches, detail=detail,
                      found_revision=observation.revision.key if observation.revision else "")


def view_of(observation: EngineObservation) -> EngineView:
    """The observation as the status shows it."""
    def revision(found: Revision | None) -> str:
        if found is None:
            return ""
        parts = [part for part in (found.image, found.pod_hash and f"pod hash {found.pod_hash}",
                                   found.checksum and f"checksum {found.checksum}") if part]
        return ", ".join(parts)

    awaiting, where = observation.awaiting, observation.awaiting_message
    return EngineView(
        engine=str(observation.engine), resource=observation.resource, phase=str(observation.phase),
        weight=observation.weight, revision=revision(observation.revision),
        stable_revision=revision(observation.stable_revision), message=observation.message,
        conditions=[f"{c.type}={c.status}" + (f" ({c.reason})" if c.reason else "") for c in observation.conditions],
        last_transition=observation.last_transition, error=observation.error,
        awaiting_image=awaiting.image if awaiting else "",
        awaiting_revision=", ".join(part for part in (
            awaiting.checksum and f"checksum {awaiting.checksum[:12]}",
            awaiting.pod_hash and f"pod template {awaiting.pod_hash}") if part) if awaiting else "",
        message_channel=where.channel if where else "", message_ts=where.ts if where else "")
