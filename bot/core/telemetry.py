"""The bot's own metrics, served at /metrics by `bizra serve`."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

COMMANDS = Counter(
    "bizra_commands_total", "Slash commands and button clicks handled, by name and outcome.", ["command", "outcome"]
)
SLO_EVALUATION_SECONDS = Histogram("bizra_slo_evaluation_seconds", "Time to evaluate the SLO catalog once.")
ALERTS = Counter("bizra_alerts_total", "Alert messages sent, by kind (page, repage, resolved, blind).", ["kind"])
