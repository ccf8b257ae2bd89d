"""Release target (what is deployed where), Kubernetes access, and the rollback procedure's limits."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class KubeAccessSettings(BaseModel):
    """How the bot reaches the API server. Credentials stay in the kubeconfig / service account."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "kubeconfig", "in-cluster"] = Field(
        default="auto",
        description="auto: in-cluster when running in a pod (KUBERNETES_SERVICE_HOST set), else kubeconfig.",
    )
    kubeconfig: Path | None = Field(
        default=None, description="kubeconfig file; empty means $KUBECONFIG, else ~/.kube/config."
    )
    context: str | None = Field(default=None, description="kubeconfig context; empty means the current context.")
    timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="Timeout of every API call.")
    conflict_retries: int = Field(
        default=3, ge=0, le=10,
        description="How often an update refused with 409 Conflict is retried from a fresh read.",
    )


class RollbackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirmation_minutes: float = Field(default=10.0, gt=0, description="A rollback confirmation expires after this.")
    rollout_deadline_seconds: float = Field(
        default=300.0, gt=0, description="Follow the rollout this long before calling it failed (the seed's MTTR)."
    )
    poll_interval_seconds: float = Field(default=2.0, gt=0, description="How often the rollout is re-read.")
    incidents_dir: Path = Field(
        default=Path("incidents"), description="Incident bundles go to <incidents_dir>/<UTC timestamp>/."
    )
    events_limit: int = Field(default=100, ge=1, description="Most recent namespace events kept in a bundle.")


class ReleaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(default="bizra-production", description="Namespace of the release target.")
    deployment: str = Field(default="node0", description="Deployment the release moves.")
    container: str = Field(default="node0", description="Container in that Deployment whose image is released.")
    image_repository: str = Field(default="ghcr.io/bizra/node0", description="Images must come from this repository.")
    label_selector: str = Field(default="app=node0", description="Selects the target's ReplicaSets and pods.")
    last_stable_annotation: str = Field(
        default="flagger.app/last-stable-revision",
        description="Annotation the bot writes on the Deployment after each completed release or rollback.",
    )
    flagger_primary: bool | Literal["auto"] = Field(
        default="auto",
        description="Read the last stable image from <deployment>-primary (Flagger). auto: when it exists.",
    )
    kube: KubeAccessSettings = Field(default_factory=KubeAccessSettings)
    rollback: RollbackSettings = Field(default_factory=RollbackSettings)

    @field_validator("namespace", "deployment", "container")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not _DNS_LABEL.match(value) or len(value) > 63:
            raise ValueError("must be a Kubernetes name: lower-case letters, digits and '-', at most 63 characters")
        return value

    @field_validator("image_repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not value or any(mark in value for mark in ("@", " ")) or value.endswith("/"):
            raise ValueError("must be an image repository without tag or digest, e.g. ghcr.io/bizra/node0")
        return value
