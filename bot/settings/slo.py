"""SLO watch (`slo:` in bizra.yaml): Prometheus connection, SLO catalog, intervals, on-call, paging.

Durations accept seconds (`300`) or strings like `5m`, `30s`, `1h30m`, so tests shorten windows to
seconds through the same config a deployment uses. Secrets (a bearer token, a basic-auth password,
the PagerDuty routing key) never appear here: the file names the environment variable to read.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from bot.settings import require_http_url
from commands.burn_rate import BurnRatePolicy
from commands.slo import SloDefinition, default_catalog, parse_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


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


class OnCallSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: list[str] = Field(default_factory=list, description="Slack user IDs (U…) mentioned in every page.")
    groups: list[str] = Field(
        default_factory=list, description="Slack user-group IDs (S…), or a handle like @sre-oncall, mentioned in pages."
    )

    def mentions(self) -> str:
        """How pages address on-call; with nobody configured the channel is notified (`@here`)."""
        parts = [f"<@{u}>" for u in self.users]
        parts += [f"<!subteam^{g}>" if re.fullmatch(r"S[A-Z0-9]+", g) else g for g in self.groups]
        return " ".join(parts) or "<!here>"


class PagerDutySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="Also trigger and resolve PagerDuty incidents (Events API v2).")
    routing_key_env: str = Field(
        default="PAGERDUTY_ROUTING_KEY", description="Environment variable holding the integration's routing key."
    )
    events_url: str = Field(default="https://events.pagerduty.com/v2/enqueue", description="Events API v2 endpoint.")
    timeout_seconds: float = Field(default=10.0, gt=0, description="Timeout of each event post.")
    source: str = Field(default="bizra-bot", description="`payload.source` of the events.")


class SloSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings, description="Where metrics are read.")
    window: str = Field(default="5m", description="Rate window substituted for `$window` in the queries (PromQL).")
    interval: Duration = Field(default=timedelta(minutes=5), description="Evaluate and post status this often.")
    sustain: Duration = Field(
        default=timedelta(minutes=5),
        description="A breach is an SLO violated continuously this long; UNKNOWN this long is 'monitoring blind'.",
    )
    repage: Duration = Field(default=timedelta(minutes=15), description="Page again this often until acknowledged.")
    post_status: bool = Field(default=True,
                              description="Post the compact status in the release channel every interval.")
    enabled: bool = Field(default=True, description="Run the SLO watch in `bizra serve`.")
    on_call: OnCallSettings = Field(default_factory=OnCallSettings, description="Who pages mention.")
    dashboard_url: str = Field(
        default="https://grafana.bizra.ai/d/node0-production-slos", description="Grafana dashboard (Open dashboard)."
    )
    chart_minutes: float = Field(default=30.0, gt=0, description="How far back charts reach.")
    pagerduty: PagerDutySettings = Field(default_factory=PagerDutySettings, description="Optional PagerDuty.")
    burn_rate: BurnRatePolicy = Field(
        default_factory=BurnRatePolicy, description="Multiwindow burn-rate tiers for SLOs with `paging: burn_rate`."
    )
    catalog: list[SloDefinition] = Field(default_factory=default_catalog, min_length=1,
                                         description="The SLOs watched.")

    @field_validator("window")
    @classmethod
    def _promql_range(cls, value: str) -> str:
        if not re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", value):
            raise ValueError("must be a PromQL range such as 5m, 30s or 1h")
        return value

    @field_validator("interval", "sustain", "repage")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @field_validator("catalog")
    @classmethod
    def _unique(cls, value: list[SloDefinition]) -> list[SloDefinition]:
        names = [slo.name for slo in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"SLO names must be unique; repeated: {', '.join(duplicates)}")
        return value

    @property
    def sustain_seconds(self) -> float:
        """The breach window in seconds (read by the canary's UNKNOWN-gap limit)."""
        return self.sustain.total_seconds()
