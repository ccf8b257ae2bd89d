"""Config sections shared by several features and by the adapters, plus the helpers sections use.

The release target (`release:`), Slack, the store, Kubernetes access, the Prometheus connection and
PagerDuty are read by more than one feature (canary, rollback and verify all move or read the
same Deployment) or by an adapter below the features, so they live in the core; a section that
one feature alone reads lives in that feature's folder (`bot/features/<name>/settings.py`).
`bot.core.config.BizraConfig` composes them all into the one `bizra.yaml`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from bot.core.store_url import parse_store_url
from commands.durations import parse_duration

_HTTP_URL = re.compile(r"^https?://[^/\s]+")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def require_http_url(value: str, *, example: str) -> str:
    """Config URLs the bot calls must be http(s) with a host; the error shows a working example."""
    if not _HTTP_URL.match(value):
        raise ValueError(f"must be an http:// or https:// URL, e.g. {example}")
    return value


class SlackSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str = Field(default="/bizra", description="The slash command the app answers.")
    release_channel: str = Field(
        default="",
        description="Channel ID where scheduled status, alerts and progress threads are posted.",
    )
    messages_per_second: float = Field(
        default=1.0, gt=0, description="Posting budget per channel (Slack allows about one per second)."
    )


class StoreSettings(BaseModel):
    """`store:` — where the bot keeps its state (docs/store.md): a SQLite file, or PostgreSQL for replicas."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(default=Path(".bizra/state.sqlite"), description="SQLite file; created on first use.")
    url: str | None = Field(
        default=None,
        description="sqlite:///path or postgresql://user@host:5432/database (wins over path); the password "
                    "comes from BIZRA_STORE_PASSWORD or PGPASSWORD, never from this file.",
    )
    pool_size: int = Field(default=10, ge=1, le=100, description="PostgreSQL: connections per process, at most.")

    @field_validator("url")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            parse_store_url(value)  # StoreUrlError (a ValueError): unknown scheme, a password in the URL, …
            return value.strip()
        return None

    @model_validator(mode="after")
    def _one_place(self) -> StoreSettings:
        if self.url and "path" in self.model_fields_set:
            raise ValueError("set store.url or store.path, not both (store.url: sqlite:///path names a file too)")
        return self


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


class PrometheusSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(default="http://prometheus.monitoring:9090", description="Prometheus base URL.")
    bearer_token_env: str | None = Field(
        default=None, description="Name of the environment variable holding a bearer token (none: no token)."
    )
    basic_auth_user: str | None = Field(default=None, description="Basic-auth user name (none: no basic auth).")
    basic_auth_password_env: str | None = Field(
        default=None, description="Name of the environment variable holding the basic-auth password."
    )
    verify_tls: bool = Field(default=True, description="Verify the server's TLS certificate.")
    ca_file: str | None = Field(default=None, description="CA bundle to verify against (none: the system's).")
    timeout_seconds: float = Field(default=10.0, gt=0, description="Timeout of each query.")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        return require_http_url(value, example="http://prometheus.monitoring:9090").rstrip("/")

    @model_validator(mode="after")
    def _one_auth(self) -> PrometheusSettings:
        if self.bearer_token_env and self.basic_auth_user:
            raise ValueError("choose bearer_token_env or basic_auth_user, not both")
        if self.basic_auth_user and not self.basic_auth_password_env:
            raise ValueError("basic_auth_user needs basic_auth_password_env (the variable holding the password)")
        return self


class PagerDutySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="Also trigger and resolve PagerDuty incidents (Events API v2).")
    routing_key_env: str = Field(
        default="PAGERDUTY_ROUTING_KEY", description="Environment variable holding the integration's routing key."
    )
    events_url: str = Field(default="https://events.pagerduty.com/v2/enqueue", description="Events API v2 endpoint.")
    timeout_seconds: float = Field(default=10.0, gt=0, description="Timeout of each event post.")
    source: str = Field(default="bizra-bot", description="`payload.source` of the events.")


class LeaderElectionSettings(BaseModel):
    """`leader_election:` — which replica runs the background jobs (docs/high-availability.md).

    `enabled: auto` turns the election on exactly when the process runs in a Kubernetes pod
    (`KUBERNETES_SERVICE_HOST` is set, as the kubelet does for every pod): there, rolling updates and
    replicas mean several processes at once. Elsewhere (a laptop, the console, tests) the process is the
    only one and leads without asking. `true` elects through `release.kube`'s access from anywhere (three
    `bizra serve` processes against one API server); `false` never elects (one replica only).
    `backend: store` keeps the Lease in the shared store instead (replicas without a Kubernetes API).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool | Literal["auto"] = Field(
        default="auto", description="auto: elect when running in a Kubernetes pod; true: always; false: never."
    )
    backend: Literal["kubernetes", "store"] = Field(
        default="kubernetes",
        description="Where the Lease lives: a coordination.k8s.io/v1 Lease (release.kube's access), or a row of "
                    "the shared store (PostgreSQL replicas without Kubernetes).",
    )
    lease_name: str = Field(default="bizra-bot-leader", description="Name of the Lease.")
    namespace: str | None = Field(
        default=None,
        description="Namespace of the Lease; empty means $POD_NAMESPACE, else the pod's own namespace, else bizra-bot.",
    )
    identity: str | None = Field(
        default=None, description="This replica's name in the Lease; empty means $POD_NAME, else <hostname>-<pid>."
    )
    lease_duration: Duration = Field(
        default=timedelta(seconds=15), description="How long a lease not renewed stays another replica's."
    )
    renew_deadline: Duration = Field(
        default=timedelta(seconds=10),
        description="The leader stops its jobs when it has not renewed for this long (less than lease_duration).",
    )
    retry_period: Duration = Field(
        default=timedelta(seconds=2), description="How often every replica tries to acquire or renew."
    )
    heartbeat_interval: Duration = Field(
        default=timedelta(seconds=10), description="How often each replica records itself in the store (status)."
    )

    @field_validator("lease_name", "namespace")
    @classmethod
    def _dns_name(cls, value: str | None) -> str | None:
        if value is not None and (not _DNS_LABEL.match(value) or len(value) > 63):
            raise ValueError("must be a Kubernetes name: lower-case letters, digits and '-', at most 63 characters")
        return value

    @field_validator("identity")
    @classmethod
    def _identity(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or len(value) > 128):
            raise ValueError("must be a non-empty name of at most 128 characters (or left out)")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> LeaderElectionSettings:
        if self.retry_period <= timedelta(0):
            raise ValueError("retry_period must be positive")
        if self.heartbeat_interval < timedelta(seconds=1):
            raise ValueError("heartbeat_interval must be at least 1s")
        if self.lease_duration.total_seconds() != int(self.lease_duration.total_seconds()):
            raise ValueError("lease_duration must be whole seconds (the Lease stores leaseDurationSeconds)")
        if not self.renew_deadline < self.lease_duration:
            raise ValueError("renew_deadline must be shorter than lease_duration, so a leader that cannot renew "
                             "stops its jobs before another replica may take the lease")
        if not self.retry_period < self.renew_deadline:
            raise ValueError("retry_period must be shorter than renew_deadline, so a leader retries a failed "
                             "renewal before it gives up")
        return self
