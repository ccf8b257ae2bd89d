"""`/bizra verify` (`verify:` in bizra.yaml): what the cluster-readiness checklist looks for.

The namespace and the NODE0 Deployment come from `release:`, Prometheus from `slo.prometheus`, the
WQ proof from `gates.artifacts_dir`; this section names the objects the hardening manifests in
`ops/hardening/` create, and what counts as ready.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.core.settings import require_http_url


class VerifySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    health_url: str = Field(
        default="https://api.bizra.ai/health", description="NODE0 health endpoint; ready means HTTP 200."
    )
    health_timeout_seconds: float = Field(default=5.0, gt=0, description="Timeout of the health request.")
    expected_ready_pods: int = Field(default=3, ge=1, description="NODE0 pods that must be ready (Phase 4: 3/3).")
    kyverno_policy: str = Field(
        default="require-signed-images", description="Kyverno ClusterPolicy that must exist and Enforce."
    )
    admission_probe_image: str = Field(
        default="nginx:latest",
        description="Unsigned image of the admission test (a dry-run create, nothing runs); the checklist's own "
        "probe, `kubectl run test-unsigned --image=nginx:latest`. Admission must refuse it for its signature.",
    )
    admission_probe_pod: str = Field(
        default="test-unsigned", description="Name of the admission test's pod (never created: dryRun=All)."
    )
    hpa: str = Field(default="node0-hpa-circuit-breaker", description="HorizontalPodAutoscaler of NODE0.")
    hpa_metric: str = Field(
        default="circuit_breaker_requests_per_second", description="Custom (Pods) metric the HPA must scale on."
    )
    default_deny_policy: str = Field(
        default="default-deny-all", description="NetworkPolicy that must deny all ingress and egress."
    )
    poi_job: str = Field(default="poi-attestation-validator", description="PoI validator Job that must be 1/1.")
    prometheus_job: str = Field(default="node0", description="`job` label of NODE0's Prometheus scrape targets.")
    min_validators: int = Field(default=3, ge=1, description="Validators the WQ proof must show (all on one head).")

    @field_validator("health_url")
    @classmethod
    def _http(cls, value: str) -> str:
        return require_http_url(value, example="https://api.bizra.ai/health")
