"""Alertmanager as a source of pages: `POST /webhooks/alertmanager` (webhook_config, payload version 4).

What flows through: the HTTP surface hands over the request's `Authorization` header and body;
`receive(runtime, …)` answers a status and a short text. Off (`slo.alertmanager.enabled: false`, the
default) it is 404; a missing or wrong bearer token (compared with `hmac.compare_digest` against the
env var `slo.alertmanager.token_env` names) is 401 and changes nothing; a body that is not a v4
payload is 400 with the reason.

Each alert in the payload, by its fingerprint (the alert's key is `am:<fingerprint>`):
- firing, no open alert with that key → one alert opened in the SLO watch's state (the same page,
  buttons, re-pages until acknowledged, silences, PagerDuty); its id `am:<fingerprint>.<startsAt>` is
  the primary key in `slo_alerts`, so a retried or repeated notification, or another replica given the
  same notification, never opens a second one;
- firing, already open → nothing new (Alertmanager repeats firing alerts every group_interval);
- resolved → that alert is resolved (the thread gets the resolution, the page is updated).

The state is changed in one write transaction; the posting is the watch's `deliver`, run on the
runtime's worker pool so that Alertmanager gets its 200 at once (a delivery that fails is retried by
the watch's next tick, like any other page).
"""

from __future__ import annotations

import hmac
import logging
import os
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.core.json_body import parse_body
from bot.core.runtime import Runtime
from bot.features.slo.watch import _db, _load, _save, deliver
from commands.breach import Alert, AlertKind

log = logging.getLogger(__name__)

SOURCE = "alertmanager"
KEY_PREFIX = "am:"


class AmAlert(BaseModel):
    """One alert of Alertmanager's webhook payload."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime  # Alertmanager's field names
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(min_length=1)


class AmPayload(BaseModel):
    """Alertmanager's webhook_config body, version 4."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str = ""
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AmAlert]


class Received(BaseModel):
    """What one notification did (the HTTP answer, and for logs)."""

    status: int
    text: str
    opened: list[str] = Field(default_factory=list)
    resolved: list[str] = Field(default_factory=list)


def _authorized(runtime: Runtime, authorization: str | None) -> bool:
    expected = os.environ.get(runtime.config.slo.alertmanager.token_env, "")
    if not expected or not authorization:
        return False
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def parse(body: bytes) -> AmPayload | str:
    """The payload, or why it is not one (the 400's text)."""
    return parse_body(body, AmPayload, what="an Alertmanager v4 payload")


def _key(alert: AmAlert) -> str:
    return f"{KEY_PREFIX}{alert.fingerprint}"


def _alert_id(alert: AmAlert) -> str:
    return f"{_key(alert)}.{alert.startsAt.astimezone(UTC).strftime('%Y%m%dT%H%M%S')}"


def _detail(alert: AmAlert) -> str:
    parts = [alert.annotations.get("description", "")]
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k != "alertname")
    if labels:
        parts.append(f"Labels: {labels}")
    if alert.generatorURL:
        parts.append(f"Source: {alert.generatorURL}")
    return "\n".join(p for p in parts if p)


def _page(alert: AmAlert, *, at: datetime) -> Alert:
    name = alert.labels.get("alertname", "alert")
    return Alert(id=_alert_id(alert), key=_key(alert), kind=AlertKind.BREACH, slo=name,
                 description=alert.annotations.get("summary", ""), since=alert.startsAt, opened_at=at,
                 detail=_detail(alert), last_page_at=at, source=SOURCE,
                 listeners_done=True,  # never the canary's auto-rollback: that is for the bot's own SLOs
                 chart_sent=True)  # no chart: the query is Alertmanager's, the source link is in the detail


def _resolved_at(alert: AmAlert, at: datetime) -> datetime:
    ends = alert.endsAt
    return ends if ends is not None and ends.year > 1 and ends <= at else at


def apply(runtime: Runtime, payload: AmPayload, *, at: datetime) -> Received:
    """Open and resolve alerts for one notification, in one write transaction (no posting)."""
    opened: list[str] = []
    resolved: list[str] = []
    with _db(runtime).transaction() as connection:
        state = _load(connection)
        for item in payload.alerts:
            current = state.open_alert(_key(item))
            if item.status == "firing":
                if current is not None:
                    continue  # the same alert again: already paged
                page = _page(item, at=at)
                seen = connection.execute("SELECT 1 FROM slo_alerts WHERE id = ?", (page.id,)).fetchone()
                if seen or any(a.id == page.id for a in state.alerts):
                    continue  # this very firing was paged and resolved already (a late repeat)
                state.alerts.append(page)
                opened.append(page.id)
            elif current is not None:
                current.resolved_at = _resolved_at(item, at)
                resolved.append(current.id)
        if opened or resolved:
            _save(connection, state, at=at)
    return Received(status=200, text=f"ok: {len(opened)} opened, {len(resolved)} resolved",
                    opened=opened, resolved=resolved)


def _deliver(runtime: Runtime, at: datetime) -> None:
    try:
        deliver(runtime, at=at)
    except Exception:
        log.exception("delivering Alertmanager pages failed; the SLO watch's next tick retries")


def receive(runtime: Runtime, *, authorization: str | None, body: bytes) -> Received:
    """One webhook request: 404 when off, 401 without the token, 400 on a malformed body, else 200."""
    if not runtime.config.slo.alertmanager.enabled:
        return Received(status=404, text="not found")
    if not _authorized(runtime, authorization):
        return Received(status=401, text="missing or wrong bearer token")
    payload = parse(body)
    if isinstance(payload, str):
        return Received(status=400, text=payload)
    at = runtime.clock.now()
    done = apply(runtime, payload, at=at)
    if done.opened or done.resolved:
        log.info("Alertmanager %s: opened %s, resolved %s", payload.groupKey, done.opened, done.resolved)
        try:
            runtime.work.get().submit(lambda: _deliver(runtime, at))
        except Exception:  # the pool is full: the watch's next tick delivers what is persisted
            log.warning("worker pool busy; Alertmanager pages %s go out on the SLO watch's next tick", done.opened)
    return done
