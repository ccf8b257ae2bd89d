"""The bot's embedded store: one SQLite file for release history, breach state and the audit log.

Several threads (lazy listeners, scheduler jobs) and several processes (two replicas on a shared
volume, a restart) use it at once, so every connection runs in WAL mode with a busy timeout, and
state transitions that must happen once use `BEGIN IMMEDIATE` (`Database.transaction()`).

Integrity: an existing file is used only when it is a SQLite database that passes
`PRAGMA quick_check` and holds the bot's tables; a file that exists but is empty, truncated or
corrupt is never re-created or written to (`StoreError`, one line saying what, where and how to
restore). A missing file is created only when it is really new, atomically (built aside, then
linked into place), and the log says so. `health()` is the cheap check behind `/healthz` and
`/readyz`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from bot.core.config_file import ConfigError

log = logging.getLogger(__name__)

_MAGIC = b"SQLite format 3\x00"
# The store's own table: written when the file is created, so "holds the bot's tables" is checkable
# even before any feature has written a row.
_META_TABLE = "bizra_store"
_META_DDL = f"CREATE TABLE IF NOT EXISTS {_META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
# How often a probe (`Database.health`) runs the full page scan; the header check runs every time.
THOROUGH_EVERY_SECONDS = 60.0


class StoreState(StrEnum):
    OK = "ok"
    MISSING = "missing"  # no file yet: created on first use
    EMPTY = "empty"  # 0 bytes
    NOT_SQLITE = "not-sqlite"
    CORRUPT = "corrupt"
    FOREIGN = "foreign"  # a SQLite database without the bot's tables
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class StoreHealth:
    state: StoreState
    path: str
    detail: str = ""

    @property
    def usable(self) -> bool:
        return self.state in (StoreState.OK, StoreState.MISSING)

    def as_dict(self) -> dict[str, str | bool]:
        return {"state": str(self.state), "path": self.path, "detail": self.detail, "usable": self.usable}


class StoreError(ConfigError):
    """The store file cannot be used as it is; worded for the operator who has to restore it."""

    def __init__(self, health: StoreHealth) -> None:
        self.health = health
        what = {StoreState.EMPTY: "is empty (0 bytes)", StoreState.NOT_SQLITE: "is not a SQLite database",
                StoreState.CORRUPT: "is corrupt", StoreState.FOREIGN: "holds none of the bot's tables",
                StoreState.UNREADABLE: "cannot be read"}.get(health.state, f"is {health.state}")
        detail = f" ({health.detail})" if health.detail else ""
        super().__init__(f"store {health.path} {what}{detail}: restore it from backup or move it aside "
                         "to start empty")


def inspect(path: Path, *, thorough: bool = True) -> StoreHealth:
    """What the file at `path` is, without creating or changing it. `thorough` runs `PRAGMA quick_check`
    (reads every page: start-up); without it, the header and the bot's table are checked (a probe)."""
    shown = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return StoreHealth(StoreState.MISSING, shown, "created on first use")
    except OSError as exc:
        return StoreHealth(StoreState.UNREADABLE, shown, exc.strerror or str(exc))
    if size == 0:
        return StoreHealth(StoreState.EMPTY, shown)
    try:
        header = _read_header(path)
    except OSError as exc:
        return StoreHealth(StoreState.UNREADABLE, shown, exc.strerror or str(exc))
    if header != _MAGIC:
        return StoreHealth(StoreState.NOT_SQLITE, shown, f"{size} bytes without a SQLite header")
    try:
        # Read-only: checking must never create, repair or rewrite the file.
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)) as connection:
            connection.execute("PRAGMA busy_timeout=30000")
            if thorough:
                problems = [str(row[0]) for row in connection.execute("PRAGMA quick_check").fetchall()]
                if problems != ["ok"]:
                    return StoreHealth(StoreState.CORRUPT, shown, "quick_check: " + "; ".join(problems[:3]))
            tables = {str(row[0]) for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
    except sqlite3.DatabaseError as exc:
        return StoreHealth(StoreState.CORRUPT, shown, str(exc))
    if not tables:
        return StoreHealth(StoreState.FOREIGN, shown, "no tables")
    if _META_TABLE not in tables:
        # A store written before the bot marked its files; adopted (marked) on first open.
        return StoreHealth(StoreState.OK, shown, f"{len(tables)} tables, unmarked")
    return StoreHealth(StoreState.OK, shown, f"{len(tables)} tables")


_HEADER_FDS: dict[tuple[int, int], int] = {}
_HEADER_LOCK = threading.Lock()


def _read_header(path: Path) -> bytes:
    """The file's first bytes through a descriptor this process keeps open for good: closing any descriptor
    of a file drops every POSIX lock the process holds on it, SQLite's included, and another process's
    connection closing next would then checkpoint and delete the WAL under this one (lost writes).
    One descriptor per inode (a replaced file gets its own; the old one stays open for the same reason)."""
    stat = path.stat()
    key = (stat.st_dev, stat.st_ino)
    with _HEADER_LOCK:
        fd = _HEADER_FDS.get(key)
        if fd is None:
            fd = _HEADER_FDS[key] = os.open(path, os.O_RDONLY)
    return os.pread(fd, len(_MAGIC), 0)


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._memory = str(path) == ":memory:"
        self._local = threading.local()
        self._schemas: set[str] = set()
        self._schema_lock = threading.Lock()
        self._opened = False
        self._open_lock = threading.Lock()
        self._health_lock = threading.Lock()
        self._thorough: tuple[float, StoreHealth | None] = (0.0, None)

    def open(self) -> StoreHealth:
        """Check the file (creating it only when there is none) once per process; `StoreError` if unusable.

        `bizra serve` calls this at start-up; every other use goes through `connect()`, which calls it."""
        with self._open_lock:
            if self._memory:
                self._opened = True
                return StoreHealth(StoreState.OK, str(self.path), "in memory")
            health = inspect(self.path)
            if health.state is StoreState.MISSING:
                self._create()
                health = inspect(self.path)
            if not health.usable:
                raise StoreError(health)
            if "unmarked" in health.detail:
                with closing(sqlite3.connect(self.path, timeout=30)) as connection:
                    connection.execute(_META_DDL)
                    connection.execute(f"INSERT OR IGNORE INTO {_META_TABLE} VALUES ('adopted_at', ?)",
                                       (datetime.now(UTC).isoformat(),))
                    connection.commit()
            self._opened = True
            return health

    def _create(self) -> None:
        """A new store, built aside and linked into place: another process never sees a half-made file,
        and a file that appeared meanwhile (another replica's) is kept, never replaced."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        aside = self.path.with_name(f".{self.path.name}.new-{os.getpid()}-{threading.get_ident()}")
        try:
            with closing(sqlite3.connect(aside, isolation_level=None)) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(_META_DDL)
                connection.execute(f"INSERT INTO {_META_TABLE} VALUES ('created_at', ?)",
                                   (datetime.now(UTC).isoformat(),))
            try:
                os.link(aside, self.path)
            except FileExistsError:
                return  # created by another process at the same moment: checked as an existing file
            except OSError:  # a volume without hard links: create-exclusive, then copy the new store in
                try:
                    descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    return
                with os.fdopen(descriptor, "wb") as target:
                    target.write(aside.read_bytes())
                    target.flush()
                    os.fsync(target.fileno())
            log.warning("store %s did not exist: created a new, empty store", self.path)
        finally:
            for leftover in (aside, aside.with_name(aside.name + "-wal"), aside.with_name(aside.name + "-shm")):
                leftover.unlink(missing_ok=True)

    def health(self) -> StoreHealth:
        """The store as a probe sees it: the header and the bot's table on every call, and the full
        `quick_check` at most every `THOROUGH_EVERY_SECONDS` (a truncated tail shows only there)."""
        if self._memory:
            return StoreHealth(StoreState.OK, str(self.path), "in memory")
        quick = inspect(self.path, thorough=False)
        if not quick.usable:
            return quick
        with self._health_lock:
            checked_at, thorough = self._thorough
            if thorough is None or time.monotonic() - checked_at > THOROUGH_EVERY_SECONDS:
                thorough = inspect(self.path)
                self._thorough = (time.monotonic(), thorough)
        return thorough if not thorough.usable else quick

    def connect(self) -> sqlite3.Connection:
        """One connection per thread (sqlite3 connections must not cross threads)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if not self._opened:
                self.open()
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
