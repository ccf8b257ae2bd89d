"""The bot's own metrics, served at /metrics by `bizra serve`."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

COMMANDS = Counter(
    "bizra_commands_total", "Slash commands and button clicks handled, by name and outcome.", ["command", "outcome"]
)
SLO_EVALUATION_SECONDS = Histogram("bizra_slo_evaluation_seconds", "Time to evaluate the SLO catalog once.")
ALERTS = Counter("bizra_alerts_total", "Alert messages sent, by kind (page, repage, resolved, blind).", ["kind"])
SLO_SLOW_TICKS = Counter(
    "bizra_slo_slow_ticks_total",
    "SLO evaluations that reached slo.tick_deadline (their unanswered queries count as UNKNOWN).",
)
SLO_QUERIES_UNANSWERED = Counter(
    "bizra_slo_queries_unanswered_total", "SLO queries not answered within the evaluation's deadline."
)
RETENTION_PRUNED = Counter("bizra_retention_pruned_rows_total", "Rows deleted by retention, by table.", ["table"])
