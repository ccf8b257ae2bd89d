"""What the bot decides.

Nothing here talks to Slack, Kubernetes, Prometheus or the scheduler (an import-linter contract in
pyproject.toml enforces it). Each command takes small ports (a clock, a store, a cluster, a
metrics source) and returns plain pydantic result models that `bot/` renders for a surface.
"""
