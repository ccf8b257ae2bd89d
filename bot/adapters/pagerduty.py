"""PagerDuty Events API v2: trigger and resolve, one dedup key per alert.

What flows through: an SLO alert (its ID is the dedup key, so PagerDuty folds a retried trigger
into the same incident and a resolve closes exactly that one); out goes a JSON event to
`slo.pagerduty.events_url`. The routing key comes only from the environment.
"""

from __future__ import annotations

import os
from typing import Any

from bot.core.settings import PagerDutySettings
from commands.breach import Alert


class PagerDutyError(Exception):
    pass


class PagerDuty:
    def __init__(self, settings: PagerDutySettings) -> None:
        self._settings = settings

    def _routing_key(self) -> str:
        key = os.environ.get(self._settings.routing_key_env)
        if not key:
            raise PagerDutyError(f"slo.pagerduty is enabled but {self._settings.routing_key_env} is not set")
        return key

    def _send(self, event: dict[str, Any]) -> None:
        import requests  # lazy: ~100 ms; only a process that pages pays it

        try:
            response = requests.post(self._settings.events_url, json=event, timeout=self._settings.timeout_seconds)
        except requests.RequestException as exc:
            raise PagerDutyError(f"PagerDuty unreachable: {type(exc).__name__}") from exc
        if response.status_code != 202:
            raise PagerDutyError(f"PagerDuty answered HTTP {response.status_code}: {response.text[:200]}")

    def trigger(self, alert: Alert, *, summary: str, links: list[dict[str, str]]) -> None:
        self._send({
            "routing_key": self._routing_key(),
            "event_action": "trigger",
            "dedup_key": alert.id,
            "payload": {
                "summary": summary[:1024],
                "source": self._settings.source,
                "severity": "critical",
                "timestamp": alert.since.isoformat(),
                "component": alert.slo or "monitoring",
                "custom_details": {"value": alert.value, "objective": alert.objective, "detail": alert.detail},
            },
            "links": links,
        })

    def resolve(self, alert: Alert) -> None:
        self._send({"routing_key": self._routing_key(), "event_action": "resolve", "dedup_key": alert.id})
