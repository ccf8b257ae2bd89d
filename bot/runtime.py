"""Everything a handler needs, built once per process and passed explicitly.

Adapters (Prometheus, Kubernetes, the Slack poster) are created lazily through `service()`, so
the console and `bizra gates` never touch a cluster or a network they do not need.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.config import BizraConfig, Secrets
from commands.ports import Clock, SystemClock

T = TypeVar("T")


@dataclass
class Runtime:
    config: BizraConfig
    secrets: Secrets
    clock: Clock = field(default_factory=SystemClock)
    surface: str = "slack"
    _services: dict[str, Any] = field(default_factory=dict, repr=False)
    # Re-entrant: a factory may build the services it depends on (the Slack poster builds the WebClient).
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def service(self, name: str, factory: Callable[[], T]) -> T:
        """One shared instance per name, created on first use (thread-safe)."""
        with self._lock:
            if name not in self._services:
                self._services[name] = factory()
            return self._services[name]

    def provide(self, name: str, instance: Any) -> None:
        """Install an adapter explicitly (the console's poster, a test's clock-driven scheduler)."""
        with self._lock:
            self._services[name] = instance
