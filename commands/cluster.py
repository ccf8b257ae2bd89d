"""The cluster port: exactly what the release commands need from Kubernetes, and nothing else.

`bot/adapters/kubernetes.py` implements it over the official client; commands only see this
Protocol, plain pydantic models and `ClusterError`, so they never import Kubernetes. Objects are
handed around as plain dicts (the API's JSON) where a command needs the whole object (incident
bundles, stage manifests); `DeploymentState` picks out the fields decisions are made on.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field

KubeObject = dict[str, Any]


class ClusterErrorKind(StrEnum):
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID = "invalid"
    SERVER = "server"
    UNREACHABLE = "unreachable"
    UNSUPPORTED = "unsupported"
    PRECONDITION = "precondition"


class ClusterError(Exception):
    """A Kubernetes call failed; `str(error)` is a sentence for the user (what failed, what to do).

    `changed` is False whenever the failing call cannot have changed anything (the adapter only
    raises after a write when the write itself was refused).
    """

    def __init__(self, message: str, *, kind: ClusterErrorKind, status: int | None = None,
                 changed: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.changed = changed


class DeploymentState(BaseModel):
    """The fields of a Deployment that rollout and rollback decisions look at."""

    namespace: str
    name: str
    generation: int = 0
    observed_generation: int = 0
    desired_replicas: int = 1
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    unavailable_replicas: int = 0
    # container name -> image, in the pod template
    images: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    selector: dict[str, str] = Field(default_factory=dict)
    resource_version: str = ""
    # "Progressing" False with reason ProgressDeadlineExceeded means the controller gave up.
    progress_deadline_exceeded: bool = False
    conditions: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def rolled_out(self) -> bool:
        """The controller has seen this generation and every desired replica runs it and is available."""
        return (
            self.observed_generation >= self.generation
            and self.updated_replicas == self.desired_replicas
            and self.available_replicas == self.desired_replicas
            and self.replicas == self.desired_replicas
            and self.unavailable_replicas == 0
        )


class AdmissionAnswer(BaseModel):
    """What the API server answered to a dry-run create: admitted (2xx) or its `kind: Status` error."""

    admitted: bool
    status: int = Field(description="HTTP status of the answer (201 when admitted).")
    reason: str = Field(default="", description="The Status reason, e.g. BadRequest, Forbidden, InternalError.")
    message: str = Field(default="", description="The Status message, verbatim (the webhook's words).")


class Cluster(Protocol):
    """What commands may ask of the cluster. Every method raises `ClusterError` on failure."""

    def read_deployment(self, *, namespace: str, name: str) -> DeploymentState: ...

    def read_deployment_object(self, *, namespace: str, name: str) -> KubeObject: ...

    def set_container_image(self, *, namespace: str, name: str, container: str, image: str,
                            expect_image: str | None = None) -> DeploymentState:
        """Patch one container's image (strategic merge); everything else stays as it was.

        With `expect_image`, refuses (kind PRECONDITION, nothing changed) unless the container
        currently runs that image — so a confirmed change is exactly the change that was shown.
        """
        ...

    def set_annotations(self, *, namespace: str, name: str, annotations: dict[str, str | None]) -> DeploymentState:
        """Set (or, with None, remove) annotations on a Deployment."""
        ...

    def list_replica_sets(self, *, namespace: str, selector: str) -> list[KubeObject]: ...

    def list_pods(self, *, namespace: str, selector: str) -> list[KubeObject]: ...

    def list_events(self, *, namespace: str, limit: int = 100) -> list[KubeObject]: ...

    def apply(self, manifest: KubeObject, *, namespace: str | None = None) -> KubeObject:
        """Server-side apply (field manager `bizra-bot`) of any supported kind; returns the live object."""
        ...

    def read_object(self, *, api_version: str, kind: str, namespace: str, name: str) -> KubeObject | None:
        """Any supported kind by name; None when it does not exist."""
        ...

    def dry_run_pod(self, *, namespace: str, pod: KubeObject) -> AdmissionAnswer:
        """A server-side dry-run create (`dryRun=All`) of a pod: admission runs, nothing is stored.

        Returns the API's answer (admitted, or refused with its status and message verbatim);
        raises ClusterError only when the API server could not be asked. (`/bizra verify`, DoD gate 1.)
        """
        ...
