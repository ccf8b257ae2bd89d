"""The bot's embedded store: one SQLite file for release history, breach state and the audit log.

Several threads (lazy listeners, scheduler jobs) and several processes (two replicas on a shared
volume, a restart) use it at once, so every connection runs in WAL mode with a busy timeout, and
state transitions that must happen once use `BEGIN IMMEDIATE` (`Database.transaction()`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.runtime import Runtime


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._schemas: set[str] = set()
        self._schema_lock = threading.Lock()

    def connect(self) -> sqlite3.Connection:
        """One connection per thread (sqlite3 connections must not cross threads)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=True)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA busy_timeout=30000")
            connection.execute("PRAGMA foreign_keys=ON")
            self._local.connection = connection
        return connection

    def ensure_schema(self, ddl: str) -> None:
        """Run idempotent DDL (`CREATE TABLE IF NOT EXISTS …`) once per process."""
        with self._schema_lock:
            if ddl in self._schemas:
                return
            self.connect().executescript(ddl)
            self._schemas.add(ddl)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locking) transaction: check-then-write happens once, across processes."""
        connection = self.connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        else:
            connection.execute("COMMIT")


def database(runtime: Runtime) -> Database:
    return runtime.service("store", lambda: Database(runtime.config.store.path))
