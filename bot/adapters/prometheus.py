"""Prometheus as the SLO watch's `MetricsSource`: one instant query per SLO per evaluation.

What flows through: an `SloDefinition` and the rate window go in as one PromQL expression (a
vector; several series are judged by their worst value in `commands.slo`); a `Reading` comes out.
Every failure (unreachable, HTTP or PromQL error, timeout, an unexpected answer) becomes a
`Reading` with the reason, so the SLO is UNKNOWN and never OK. Burn-rate SLOs ask for their value
and their bad-event ratio over every burn window in that same single query, told apart by a
`bizra_window` label. Range queries feed the charts.

The client's own retries are switched off: a retry with backoff would hold a scheduled evaluation
for tens of seconds, and the next tick asks again anyway.

Concurrency: the SLO watch calls `read` from up to `slo.max_concurrent_queries` threads at once.
They share one `requests.Session` (its urllib3 connection pool is thread-safe, and the session
carries no per-request state: no cookies, fixed headers and auth), whose pool holds as many
connections as there are concurrent readers, so connections are reused tick after tick instead of
being opened and discarded.
"""

from __future__ import annotations

import logging
import math
import os
from datetime import datetime, timedelta
from typing import Any

from bot.core.logs import redact_url
from bot.core.settings import PrometheusSettings
from commands.burn_rate import BurnRatePolicy
from commands.slo import Paging, Reading, Series, SloDefinition

log = logging.getLogger(__name__)

WINDOW_LABEL = "bizra_window"
VALUE_WINDOW = "value"


def _float(raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def _label(expression: str, window: str) -> str:
    return f'label_replace({expression}, "{WINDOW_LABEL}", "{window}", "", "")'


class PrometheusSource:
    def __init__(self, settings: PrometheusSettings, *, burn_policy: BurnRatePolicy | None = None,
                 max_concurrent: int = 10) -> None:
        import requests  # lazy: requests and the Prometheus client cost ~100 ms; only the SLO watch pays it
        from prometheus_api_client import PrometheusConnect  # lazy: as above
        from requests.adapters import HTTPAdapter  # lazy: as above
        from urllib3.util.retry import Retry  # lazy: comes with requests, as above

        self._settings = settings
        self._burn = burn_policy or BurnRatePolicy()
        headers: dict[str, str] = {}
        auth: tuple[str, str] | None = None
        if settings.bearer_token_env:
            token = os.environ.get(settings.bearer_token_env)
            if not token:
                raise RuntimeError(f"slo.prometheus.bearer_token_env names {settings.bearer_token_env}, "
                                   "which is not set in the environment")
            headers["Authorization"] = f"Bearer {token}"
        if settings.basic_auth_user and settings.basic_auth_password_env:
            password = os.environ.get(settings.basic_auth_password_env)
            if password is None:
                raise RuntimeError(f"slo.prometheus.basic_auth_password_env names "
                                   f"{settings.basic_auth_password_env}, which is not set in the environment")
            auth = (settings.basic_auth_user, password)
        session = requests.Session()
        session.verify = settings.ca_file or settings.verify_tls
        no_retry = Retry(total=False, raise_on_status=False)
        self._client = PrometheusConnect(url=settings.url, headers=headers or None, auth=auth, session=session,
                                         retry=no_retry, timeout=settings.timeout_seconds)
        # Replaces the client's adapter (same prefix): one pooled connection per concurrent reader.
        pool = max(1, max_concurrent)
        session.mount(settings.url, HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=no_retry))
        self.max_concurrent = pool

    @property
    def url(self) -> str:
        """The URL as shown in reasons, logs and replies: a password in it is `***`."""
        return redact_url(self._settings.url)

    def query_for(self, slo: SloDefinition, *, window: str) -> str:
        """The single expression sent for this SLO."""
        if slo.paging is not Paging.BURN_RATE:
            return slo.promql(window)
        parts = [_label(slo.promql(window), VALUE_WINDOW)]
        parts += [_label(slo.bad_ratio_promql(w), w) for w in self._burn.windows()]
        return " or ".join(parts)

    def _failure(self, exc: Exception) -> str:
        import requests  # lazy: already loaded by __init__; named here for the checks below
        from prometheus_api_client import PrometheusApiClientException  # lazy: as above
        from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError  # lazy: as above

        # With retries off, urllib3's own errors can surface unwrapped by requests: accept both.
        if isinstance(exc, (requests.Timeout, ReadTimeoutError, TimeoutError)):
            return f"Prometheus at {self.url} did not answer within {self._settings.timeout_seconds:g}s"
        if isinstance(exc, (requests.ConnectionError, NewConnectionError, ConnectTimeoutError, ConnectionError)):
            return f"Prometheus at {self.url} is unreachable"
        if isinstance(exc, PrometheusApiClientException):
            return f"Prometheus at {self.url} answered with an error: {str(exc)[:300]}"
        return f"reading Prometheus at {self.url} failed: {type(exc).__name__}: {str(exc)[:300]}"

    def read(self, slo: SloDefinition, *, window: str, at: datetime) -> Reading:
        """Prometheus's latest value for the SLO (`at` is the evaluation's logical time, for the caller)."""
        try:
            result = self._client.custom_query(self.query_for(slo, window=window))
        except Exception as exc:  # every failure is UNKNOWN with its reason, never OK
            reason = self._failure(exc)
            log.warning("SLO %s: %s", slo.name, reason)
            return Reading(error=reason)
        if not isinstance(result, list):
            return Reading(error=f"Prometheus at {self.url} gave an unexpected answer (not a vector)")
        values: list[float] = []
        windows: dict[str, float] = {}
        for item in result:
            value = _float((item.get("value") or [None, None])[1])
            window_label = (item.get("metric") or {}).get(WINDOW_LABEL)
            if slo.paging is Paging.BURN_RATE and window_label != VALUE_WINDOW:
                if window_label and not math.isnan(value):
                    windows[window_label] = value
                continue
            values.append(value)
        return Reading(values=values, windows=windows)

    def range(self, slo: SloDefinition, *, window: str, start: datetime, end: datetime,
              points: int = 120, subsecond: bool = False) -> list[Series]:
        """The SLO's value over [start, end] (charts, evidence); an empty list when Prometheus has nothing.

        Steps are whole seconds (at least 1 s), as charts and the evidence archive record them;
        `subsecond=True` (the SLO watch dating a breach's start, bot/features/slo/onset.py) lets a span
        shorter than `points` seconds use sub-second steps, which Prometheus takes as plain seconds."""
        step = (end - start) / timedelta(seconds=1) / points
        if step >= 1 or not subsecond:
            step = max(1.0, step)
            result = self._client.custom_query_range(slo.promql(window), start_time=start, end_time=end,
                                                     step=f"{int(step)}s")
        else:  # the client rounds start and end to whole seconds; its `params` win over them
            result = self._client.custom_query_range(
                slo.promql(window), start_time=start, end_time=end, step=f"{max(step, 0.001):.3f}",
                params={"start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}"})
        return [
            Series(labels=dict(item.get("metric") or {}),
                   points=[(datetime.fromtimestamp(float(t), tz=start.tzinfo), _float(v))
                           for t, v in item.get("values") or []])
            for item in result or []
        ]
