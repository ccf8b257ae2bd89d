"""SLO watch (`slo:` in bizra.yaml): Prometheus connection, SLO catalog, intervals, on-call, paging.

Durations accept seconds (`300`) or strings like `5m`, `30s`, `1h30m`, so tests shorten windows to
seconds through the same config a deployment uses. Secrets (a bearer token, a basic-auth password,
the PagerDuty routing key) never appear here: the file names the environment variable to read.
"""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.core.settings import Duration, PagerDutySettings, PrometheusSettings
from commands.burn_rate import BurnRatePolicy
from commands.slo import SloDefinition, default_catalog


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


class RetentionSettings(BaseModel):
    """How long the store keeps history: `slo_samples` pruned, the audit log kept unless told otherwise."""

    model_config = ConfigDict(extra="forbid")

    samples_days: float = Field(default=30.0, gt=0, description="Delete SLO evaluation samples older than this.")
    audit_days: float | None = Field(
        default=None, gt=0, description="Delete audit entries older than this (null: keep the audit log forever)."
    )
    audit_export_dir: str | None = Field(
        default=None, description="Before deleting audit entries, append them as JSON lines to a file here."
    )
    interval: Duration = Field(default=timedelta(hours=1), description="Prune this often.")
    batch_rows: int = Field(default=10_000, ge=100, description="Rows deleted per transaction.")


class DigestSettings(BaseModel):
    """The daily digest: yesterday's SLOs in one message, at a fixed UTC time."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Post the daily SLO digest.")
    at: str = Field(default="09:00", description="UTC time of day (HH:MM) the digest is posted.")
    channel: str = Field(default="", description="Channel ID for the digest (empty: slack.release_channel).")

    @field_validator("at")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value)
        if not match:
            raise ValueError('must be a UTC time of day as HH:MM, such as "09:00"')
        return value

    @property
    def minutes(self) -> int:
        """Minutes after midnight UTC."""
        hours, minutes = self.at.split(":")
        return int(hours) * 60 + int(minutes)


class SilenceSettings(BaseModel):
    """Silences (`/bizra slo silence`, the Silence button on pages): how long by default and at most."""

    model_config = ConfigDict(extra="forbid")

    default_duration: Duration = Field(default=timedelta(hours=1),
                                       description="How long the Silence button on a page silences its SLO.")
    max_duration: Duration = Field(default=timedelta(hours=72), description="The longest silence anyone may set.")

    @field_validator("default_duration", "max_duration")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value


class AlertmanagerSettings(BaseModel):
    """The Alertmanager webhook receiver (`POST /webhooks/alertmanager`): its alerts become pages."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="Serve the receiver (off: the route answers 404).")
    token_env: str = Field(default="BIZRA_ALERTMANAGER_TOKEN",
                           description="Env var holding the bearer token Alertmanager must send.")


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
    max_concurrent_queries: int = Field(default=16, ge=1, le=64,
                                        description="Prometheus queries one evaluation runs at once.")
    tick_deadline: Duration = Field(
        default=timedelta(seconds=30),
        description="One deadline for a whole evaluation; a query not answered by then is UNKNOWN.",
    )
    post_status: bool = Field(
        default=True,
        description="Keep the living status message in the release channel: one message a day, edited in place "
        "every interval; a new one when a state changes.",
    )
    digest: DigestSettings = Field(default_factory=DigestSettings, description="The daily SLO digest.")
    silence: SilenceSettings = Field(default_factory=SilenceSettings, description="Silences of re-pages.")
    alertmanager: AlertmanagerSettings = Field(default_factory=AlertmanagerSettings,
                                               description="Alertmanager as a source of pages (webhook receiver).")
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
    retention: RetentionSettings = Field(default_factory=RetentionSettings,
                                         description="Pruning of slo_samples (and optionally the audit log).")
    catalog: list[SloDefinition] = Field(default_factory=default_catalog, min_length=1,
                                         description="The SLOs watched.")

    @field_validator("window")
    @classmethod
    def _promql_range(cls, value: str) -> str:
        if not re.fullmatch(r"(\d+(ms|s|m|h|d|w|y))+", value):
            raise ValueError("must be a PromQL range such as 5m, 30s or 1h")
        return value

    @field_validator("interval", "sustain", "repage", "tick_deadline")
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
