"""Waiting for a condition in tests: poll with a deadline, never sleep for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(condition: Callable[[], Any], *, timeout: float = 15.0, what: str, interval: float = 0.02) -> Any:
    """Call `condition` until it returns something truthy and return that; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)  # the polling interval, not a wait for the condition
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
