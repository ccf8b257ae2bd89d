"""`/bizra audit`: the newest audit entries (the log itself is the core's `bot/core/audit.py`)."""
