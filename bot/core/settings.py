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
    model_config = ConfigDict(extra="forbid")

    path: Path = Field(default=Path(".bizra/state.sqlite"), description="SQLite file; created on first use.")


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
