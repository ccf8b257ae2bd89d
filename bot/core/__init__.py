"""The shared core: runtime and registry, config, store, audit log, delivery, rendering helpers, telemetry.

Imports no feature (but the config's sections, see `bot/core/config.py`)."""
