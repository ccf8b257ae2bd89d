"""The bot's embedded store: one SQLite file for release history, breach state and the audit log.

Several threads (lazy listeners, scheduler jobs) and several processes (two replicas on a shared
volume, a restart) use it at once, so every connection runs in WAL mode with a busy timeout, and
state transitions that must happen once use `BEGIN IMMEDIATE` (`Database.transaction()`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
            connection.execute("PRAGMA busy_timeout=30000")
            _enable_wal(connection)
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


def _enable_wal(connection: sqlite3.Connection, *, within: float = 30.0) -> None:
    """Switch to WAL, retrying: the switch takes an exclusive lock and SQLite answers "locked" at once
    (without its busy handler) when several processes open a new file at the same moment."""
    deadline = time.monotonic() + within
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)  # back off briefly before asking SQLite again
