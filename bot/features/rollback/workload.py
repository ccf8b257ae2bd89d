"""What the rollback acts on, per canary engine: the release's Deployment, or the Argo Rollout in its place.

With `canary.engine: argo-rollouts` the release runs as a Rollout (ops/canary/argo-rollouts/), so
the rollback's reads and its image patch go to the Rollout through `commands.argo_rollouts.
RolloutWorkload` (the Rollout seen as a Deployment: its pod template's images, "rolled out" once
the controller is Healthy with the stable ReplicaSet at the template's hash), and the last-stable
search asks the Rollout's ReplicaSets. With `gateway` and `flagger` the rollback is what it always
was: the Deployment `release.deployment` (Flagger's target; Flagger then takes the image back
through its own analysis, see docs/canary.md), with the `-primary` Deployment asked first for the
last stable image under `flagger`.
"""

from __future__ import annotations

from bot.core.runtime import Runtime
from bot.features.releases.history import release_target
from commands.argo_rollouts import RolloutCluster, RolloutWorkload
from commands.cluster import Cluster
from commands.last_stable import ReleaseTarget


def workload_cluster(runtime: Runtime) -> Cluster:
    """The cluster as the rollback sees it (raises ClusterError when there is no cluster access)."""
    cluster = runtime.cluster.get()
    canary = runtime.config.canary
    if canary.engine == "argo-rollouts" and isinstance(cluster, RolloutCluster):
        return RolloutWorkload(cluster, deployment=runtime.config.release.deployment,
                               rollout=canary.argo_rollouts.rollout)
    return cluster


def rollback_target(runtime: Runtime) -> ReleaseTarget:
    """The release target, with the engine that runs it."""
    canary = runtime.config.canary
    target = release_target(runtime)
    if canary.engine == "argo-rollouts":
        return target.model_copy(update={"engine": canary.engine, "rollout": canary.argo_rollouts.rollout})
    return target.model_copy(update={"engine": canary.engine})
