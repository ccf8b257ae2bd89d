"""The `gateway` engine: the bot applies the Gateway API HTTPRoute stage manifests in ops/canary/ itself.

What flows through: a stage's manifest (multi-document YAML, the canary image put in for the
placeholder) is server-side applied through the `Cluster` port in file order; a failed apply is
undone by re-applying what was live (the previous stage, or stable.yaml at start). Completion sets
the stable Deployment to the canary image, waits until it rolled out, then applies stable.yaml
(traffic back to stable, canary scaled to 0). Abort undoes a completion that had begun and
applies stable.yaml. This is the bot's behaviour before engines existed, moved here unchanged.
"""

from __future__ import annotations

from pathlib import Path

from bot.core.runtime import Runtime
from bot.features.canary.inputs import canary_pods, load_documents, stages
from commands.canary import (
    ApplyFailed,
    CanaryRun,
    Completion,
    ManifestError,
    Stage,
    apply_documents,
    complete_release,
    restore_stable_image,
    substitute_image,
)
from commands.canary_engine import EngineFailed, EngineKind, EngineObservation, EnginePhase, EngineStep, Grant
from commands.cluster import Cluster, ClusterError, KubeObject


class GatewayEngine:
    kind = EngineKind.GATEWAY
    stable_label = "The stable Deployment"

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    # -- manifests --------------------------------------------------------------------------------
    def _documents(self, path: Path, *, image: str) -> list[KubeObject]:
        return substitute_image(load_documents(path), placeholder=self._runtime.config.canary.image_placeholder,
                                image=image, source=str(path))

    def _stage_documents(self, stage: Stage, *, image: str) -> list[KubeObject]:
        return self._documents(Path(stage.manifest), image=image)

    def _stable_documents(self, *, image: str) -> list[KubeObject]:
        return self._documents(self._runtime.config.canary.stable_manifest, image=image)

    def _cluster(self) -> Cluster:
        return self._runtime.cluster.get()

    def _namespace(self) -> str:
        return self._runtime.config.release.namespace

    def _apply_or_restore(self, documents: list[KubeObject], restore: list[KubeObject]) -> list[str]:
        cluster = self._cluster()
        try:
            return apply_documents(cluster, documents, namespace=self._namespace())
        except ApplyFailed as failed:
            restored, restore_error = _restore(cluster, restore, namespace=self._namespace(),
                                               needed=bool(failed.applied))
            raise EngineFailed(str(failed.error), failed=failed.failed, applied=failed.applied, restored=restored,
                               restore_error=restore_error) from failed

    # -- the port ---------------------------------------------------------------------------------
    def stable_image(self) -> str:
        release = self._runtime.config.release
        stable = self._cluster().read_deployment(namespace=release.namespace, name=release.deployment)
        return stable.images.get(release.container, "")

    def check_start(self, image: str) -> list[str]:
        try:
            self._stage_documents(_first(self._runtime), image=image)
            self._stable_documents(image=image)
        except ManifestError as exc:
            return [str(exc)]
        return []

    def check_advance(self, run: CanaryRun, *, from_stage: Stage, to_stage: Stage | None) -> list[str]:
        try:
            if to_stage is not None:
                self._stage_documents(to_stage, image=run.image)
            else:
                self._stable_documents(image=run.image)
            self._stage_documents(from_stage, image=run.image)
        except ManifestError as exc:
            return [str(exc)]
        return []

    def check_abort(self, run: CanaryRun) -> list[str]:
        try:
            self._stable_documents(image=run.image)
        except ManifestError as exc:
            return [str(exc)]
        return []

    def begin(self, run: CanaryRun, stage: Stage) -> EngineStep:
        applied = self._apply_or_restore(self._stage_documents(stage, image=run.image),
                                         self._stable_documents(image=run.image))
        return EngineStep(applied=applied, source=stage.manifest)

    def advance(self, run: CanaryRun, *, from_stage: Stage, to_stage: Stage, grant: Grant) -> EngineStep:
        applied = self._apply_or_restore(self._stage_documents(to_stage, image=run.image),
                                         self._stage_documents(from_stage, image=run.image))
        return EngineStep(applied=applied, source=to_stage.manifest)

    def complete(self, run: CanaryRun, stage: Stage, *, grant: Grant) -> Completion:
        release = self._runtime.config.release
        try:
            done = complete_release(self._cluster(), namespace=release.namespace, deployment=release.deployment,
                                    container=release.container, image=run.image,
                                    stable_documents=self._stable_documents(image=run.image))
        except ApplyFailed as exc:
            raise EngineFailed(str(exc.error), failed=exc.failed, applied=exc.applied) from exc
        except ClusterError as exc:
            raise EngineFailed(str(exc), failed=f"Deployment/{release.deployment}") from exc
        return done.model_copy(update={"source": str(self._runtime.config.canary.stable_manifest)})

    def abort(self, run: CanaryRun, *, grant: Grant) -> EngineStep:
        release = self._runtime.config.release
        cluster = self._cluster()
        restored: list[str] = []
        try:
            # A completion that had begun moved the stable Deployment to the canary image: undo that first,
            # so "all traffic to stable" means the version that was stable before the canary.
            done = restore_stable_image(cluster, namespace=release.namespace, deployment=release.deployment,
                                        container=release.container, run=run)
            restored = [done] if done else []
            applied = restored + apply_documents(cluster, self._stable_documents(image=run.image),
                                                 namespace=release.namespace)
        except ApplyFailed as exc:
            raise EngineFailed(str(exc.error), failed=exc.failed, applied=restored + exc.applied) from exc
        except ClusterError as exc:
            raise EngineFailed(str(exc), failed=f"Deployment/{release.deployment}", applied=restored) from exc
        return EngineStep(applied=applied, source=str(self._runtime.config.canary.stable_manifest))

    def observe(self, run: CanaryRun | None) -> EngineObservation:
        stage_list = self._runtime.config.canary.stages
        try:
            cluster: Cluster | None = self._cluster()
            error = None
        except ClusterError as exc:
            cluster, error = None, str(exc)
        pods = canary_pods(self._runtime, cluster, error=error)
        if run is None:
            return EngineObservation(engine=self.kind, phase=EnginePhase.IDLE, weight=0, pods=pods, error=error)
        weight = stage_list[run.stage].weight if 0 <= run.stage < len(stage_list) else None
        return EngineObservation(engine=self.kind, phase=EnginePhase.PAUSED, weight=weight, stage_index=run.stage,
                                 paused=True, pods=pods, error=error,
                                 resource=f"HTTPRoute stage manifests ({self._namespace()})")


def _first(runtime: Runtime) -> Stage:
    return stages(runtime)[0]


def _restore(cluster: Cluster, documents: list[KubeObject], *, namespace: str,
             needed: bool) -> tuple[bool | None, str | None]:
    """Re-apply what was live before a failed apply; (None, None) when nothing had been applied."""
    if not needed:
        return None, None
    try:
        apply_documents(cluster, documents, namespace=namespace)
    except ApplyFailed as again:
        return False, f"{again.failed}: {again.error}"
    return True, None
