"""The bot's store: release history, breach state, claims, the outbox and the audit log, behind one interface.

Two backends, same schema, same behaviour:
- **SQLite** (`SqliteDatabase`, the embedded default: `store.path` or `store.url: sqlite:///path`): one
  file, for the console, one replica and the tests that need nothing installed.
- **PostgreSQL** (`bot.core.store_postgres.PostgresDatabase`, `store.url: postgresql://user@host:port/db`,
  the password from `BIZRA_STORE_PASSWORD` or libpq's `PGPASSWORD`): several replicas on different nodes.
  `bot.core.store_url.open_store(settings)` chooses.

The calling code is the same on both: `db.connect().execute(sql, params)` (autocommit) returns a cursor
with `fetchone`/`fetchall`/`rowcount`/iteration, rows are `Row`s (by column name and by index), and
`with db.transaction() as connection:` serialises check-then-write: every "exactly once" of the bot
(rollback confirmation claims, canary transitions, alert deliveries, digests, the outbox, the replay
guard) rests on it. SQL is the portable subset (docs/store.md): `?` placeholders, `ON CONFLICT`,
`RETURNING id`, no PRAGMA, ISO-8601 UTC text for times.

Schema: each component declares a versioned `Schema` (bot/core/migrations.py); `db.ensure(schema)` upgrades
it lazily, `db.upgrade(schemas)` all at once (`bizra db upgrade`, `bizra serve` start-up), under a lock.
`ensure_schema(ddl)` still runs unversioned idempotent DDL (`CREATE TABLE IF NOT EXISTS …`) once per process.

SQLite specifics: several threads (lazy listeners, scheduler jobs) and several processes (a restart, a
replica on a shared volume) use the file at once, so every connection runs in WAL mode with a busy
timeout, and `transaction()` is `BEGIN IMMEDIATE` (one writer at a time, across processes).
Integrity: an existing file is used only when it is a SQLite database that passes
`PRAGMA quick_check` and holds the bot's tables; a file that exists but is empty, truncated or
corrupt is never re-created or written to (`StoreError`, one line saying what, where and how to
restore). A missing file is created only when it is really new, atomically (built aside, then
linked into place), and the log says so. `health()` is the cheap check behind `/healthz` and
`/readyz`.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, SupportsIndex, overload

from bot.core.config_file import ConfigError
from bot.core.migrations import Migration, Schema, statements

log = logging.getLogger(__name__)

_MAGIC = b"SQLite format 3\x00"
# The store's own table: written when the store is created, so "holds the bot's tables" is checkable
# even before any feature has written a row.
_META_TABLE = "bizra_store"
_META_DDL = f"CREATE TABLE IF NOT EXISTS {_META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
# The schema version of each component (bot/core/migrations.py).
VERSIONS_TABLE = "bizra_schema"
_VERSIONS_DDL = (f"CREATE TABLE IF NOT EXISTS {VERSIONS_TABLE} (component TEXT PRIMARY KEY, "
                 "version INTEGER NOT NULL, updated_at TEXT NOT NULL)")
STORE_TABLES = (_META_TABLE, VERSIONS_TABLE)
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
    UNREACHABLE = "unreachable"  # PostgreSQL: no server answers there (down, wrong host or port)
    LOGIN_REFUSED = "login-refused"  # PostgreSQL: wrong password or user, no such database


# What to do about each unusable state: the end of the one line an operator reads.
_ADVICE = {
    StoreState.UNREACHABLE: "check store.url and that the PostgreSQL server is up and reachable from here",
    StoreState.LOGIN_REFUSED: "check the user and database in store.url and set BIZRA_STORE_PASSWORD (or "
                              "PGPASSWORD) in the environment to that user's password",
}
_DEFAULT_ADVICE = "restore it from backup or move it aside to start empty"


@dataclass(frozen=True)
class StoreHealth:
    state: StoreState
    path: str  # where the store is: a file path, or a PostgreSQL URL without its password
    detail: str = ""

    @property
    def usable(self) -> bool:
        return self.state in (StoreState.OK, StoreState.MISSING)

    def as_dict(self) -> dict[str, str | bool]:
        return {"state": str(self.state), "path": self.path, "detail": self.detail, "usable": self.usable}


class StoreError(ConfigError):
    """The store cannot be used as it is; worded for the operator who has to restore or reach it."""

    def __init__(self, health: StoreHealth) -> None:
        self.health = health
        what = {StoreState.EMPTY: "is empty (0 bytes)", StoreState.NOT_SQLITE: "is not a SQLite database",
                StoreState.CORRUPT: "is corrupt", StoreState.FOREIGN: "holds none of the bot's tables",
                StoreState.UNREADABLE: "cannot be read", StoreState.UNREACHABLE: "cannot be reached",
                StoreState.LOGIN_REFUSED: "refused the login"}.get(health.state, f"is {health.state}")
        detail = f" ({health.detail})" if health.detail else ""
        super().__init__(f"store {health.path} {what}{detail}: {_ADVICE.get(health.state, _DEFAULT_ADVICE)}")


class Row(tuple[Any, ...]):
    """One result row, by column name (`row["id"]`) and by index (`row[0]`); `dict(row)` gives name → value."""

    _names: tuple[str, ...]
    _index: dict[str, int]

    def __new__(cls, values: Iterable[Any], names: Sequence[str]) -> Row:
        row = super().__new__(cls, values)
        row._names = tuple(names)
        row._index = _index_of(row._names)
        return row

    @overload
    def __getitem__(self, key: str) -> Any: ...
    @overload
    def __getitem__(self, key: SupportsIndex) -> Any: ...
    @overload
    def __getitem__(self, key: slice) -> tuple[Any, ...]: ...

    def __getitem__(self, key: str | SupportsIndex | slice) -> Any:
        if isinstance(key, str):
            try:
                return super().__getitem__(self._index[key])
            except KeyError:
                raise IndexError(f"no column named {key!r} (columns: {', '.join(self._names)})") from None
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self._names)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Row, (tuple(self), self._names))


@functools.lru_cache(maxsize=512)
def _index_of(names: tuple[str, ...]) -> dict[str, int]:
    return {name: position for position, name in enumerate(names)}


class Cursor(Protocol):
    """What `execute` returns on both backends."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """A connection as the calling code uses it (a sqlite3 connection, or the PostgreSQL backend's handle)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...

    def close(self) -> None: ...


def inserted_id(connection: Connection, sql: str, parameters: Sequence[Any] = ()) -> int:
    """Run an `INSERT` with `RETURNING id` appended and give the new row's id (portable `lastrowid`)."""
    rows = connection.execute(f"{sql} RETURNING id", parameters).fetchall()
    return int(rows[0][0])


class Database:
    """The interface both backends implement, and the schema bookkeeping they share."""

    backend: str = ""  # "sqlite" | "postgresql"
    # Appended to a `SELECT` that claims rows other senders skip (PostgreSQL: FOR UPDATE SKIP LOCKED);
    # empty on SQLite, where `transaction()` already excludes every other writer.
    skip_locked: str = ""

    def __init__(self) -> None:
        self._current: set[str] = set()  # components known to be at their latest version in this process
        self._schemas: set[str] = set()  # unversioned DDL already run (ensure_schema)
        self._schema_lock = threading.RLock()

    # -- what each backend provides ---------------------------------------------------------------
    @property
    def location(self) -> str:
        """Where the store is, fit for logs and /healthz: a file path, or a URL without a password."""
        raise NotImplementedError

    def open(self) -> StoreHealth:
        raise NotImplementedError

    def health(self) -> StoreHealth:
        raise NotImplementedError

    def connect(self) -> Connection:
        raise NotImplementedError

    def transaction(self, *, serialize: bool = True) -> AbstractContextManager[Connection]:
        """A write transaction; with `serialize` (the default) no other serialised transaction runs meanwhile,
        in any process, so a check-then-write inside it happens once. `serialize=False` (PostgreSQL only;
        SQLite always serialises) leaves concurrency to row locks the caller takes (`skip_locked`)."""
        raise NotImplementedError

    def _migration_transaction(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def ddl(self, statement: str) -> str:
        """A DDL statement in this backend's spelling (SQLite's is the one written in the code)."""
        return statement

    def tables(self, connection: Connection | None = None) -> list[str]:
        raise NotImplementedError

    def columns(self, table: str, connection: Connection | None = None) -> list[str]:
        raise NotImplementedError

    def table_ddl(self, table: str) -> str | None:
        """The statement that made `table`, when the backend keeps it (SQLite does; `bizra db copy` reuses it)."""
        return None

    def identity_columns(self, connection: Connection | None = None) -> list[tuple[str, str]]:
        """(table, column) of generated ids whose counter a copy must move on (none on SQLite: it keeps
        AUTOINCREMENT's counter past any id inserted explicitly)."""
        return []

    def reset_identity(self, connection: Connection, table: str, column: str) -> None:
        """Let the next generated id follow the largest one present."""

    def close(self) -> None:
        """Give back what the store holds (PostgreSQL: the pool). The store may not be used afterwards."""

    # -- schema --------------------------------------------------------------------------------------
    def ensure_schema(self, ddl: str) -> None:
        """Run idempotent, unversioned DDL (`CREATE TABLE IF NOT EXISTS …`) once per process, in this
        backend's spelling. New tables should rather be a versioned `Schema` (`ensure`)."""
        if ddl in self._schemas:
            return
        with self._schema_lock:
            if ddl in self._schemas:
                return
            with self._migration_transaction() as connection:
                for statement in statements(ddl):
                    connection.execute(self.ddl(statement))
            self._schemas.add(ddl)

    def ensure(self, schema: Schema) -> None:
        """Bring one component's tables to its latest version (once per process; cheap afterwards)."""
        if schema.component in self._current:
            return
        with self._schema_lock:
            if schema.component not in self._current:
                self._upgrade_one(schema)

    def upgrade(self, schemas: Iterable[Schema]) -> dict[str, tuple[int, int]]:
        """Upgrade every component; returns component -> (version before, version after)."""
        with self._schema_lock:
            return {schema.component: self._upgrade_one(schema) for schema in schemas}

    def schema_versions(self) -> dict[str, int]:
        """The version of each component's schema in this store (empty before any was upgraded)."""
        if VERSIONS_TABLE not in self.tables():
            return {}
        rows = self.connect().execute(f"SELECT component, version FROM {VERSIONS_TABLE} ORDER BY component")
        return {str(row[0]): int(row[1]) for row in rows.fetchall()}

    def _stored_version(self, component: str) -> int | None:
        """The component's version as stored, read without any lock (None: no version table yet)."""
        try:
            found = self.connect().execute(f"SELECT version FROM {VERSIONS_TABLE} WHERE component = ?",
                                           (component,)).fetchone()
        except Exception:  # no version table yet (sqlite3 and psycopg word it differently): the locked path decides
            return None
        return int(found[0]) if found is not None else 0

    def _upgrade_one(self, schema: Schema) -> tuple[int, int]:
        # Read first: a store already upgraded (every start but the first) takes no write lock at all.
        stored = self._stored_version(schema.component)
        if stored is not None and stored >= schema.latest:
            self._current.add(schema.component)
            return stored, stored
        with self._migration_transaction() as connection:
            connection.execute(self.ddl(_VERSIONS_DDL))
            found = connection.execute(f"SELECT version FROM {VERSIONS_TABLE} WHERE component = ?",
                                       (schema.component,)).fetchone()
            before = int(found[0]) if found is not None else 0
            if before > schema.latest:
                log.warning("store %s: schema %s is at version %d, newer than this bot's %d (a newer release "
                            "upgraded it; migrations only add, so this one keeps working)", self.location,
                            schema.component, before, schema.latest)
            pending = [migration for migration in schema.migrations if migration.version > before]
            for migration in pending:
                self._apply(connection, migration)
            if pending:
                connection.execute(
                    f"INSERT INTO {VERSIONS_TABLE} (component, version, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (component) DO UPDATE SET version = excluded.version, "
                    "updated_at = excluded.updated_at",
                    (schema.component, schema.latest, datetime.now(UTC).isoformat()))
                log.info("store %s: schema %s upgraded from version %d to %d", self.location, schema.component,
                         before, schema.latest)
        self._current.add(schema.component)
        return before, max(before, schema.latest)

    def _apply(self, connection: Connection, migration: Migration) -> None:
        for statement in statements(migration.sql):
            connection.execute(self.ddl(statement))
        for table, wanted in migration.columns.items():
            have = set(self.columns(table, connection))
            for name, kind in wanted.items():
                if name not in have:
                    connection.execute(self.ddl(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))


def _sqlite_row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Row:
    return Row(values, tuple(column[0] for column in cursor.description))


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




class SqliteDatabase(Database):
    """The embedded backend: one SQLite file (or `:memory:`)."""

    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._memory = str(path) == ":memory:"
        self._local = threading.local()
        self._opened = False
        self._open_lock = threading.Lock()
        self._health_lock = threading.Lock()
        self._thorough: tuple[float, StoreHealth | None] = (0.0, None)

    @property
    def location(self) -> str:
        return str(self.path)

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
                    connection.execute(f"INSERT INTO {_META_TABLE} VALUES ('adopted_at', ?) ON CONFLICT DO NOTHING",
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
            connection.row_factory = _sqlite_row
            connection.execute("PRAGMA busy_timeout=30000")
            _enable_wal(connection)
            connection.execute("PRAGMA foreign_keys=ON")
            self._local.connection = connection
        return connection

    @contextmanager
    def transaction(self, *, serialize: bool = True) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locking) transaction: check-then-write happens once, across processes.
        SQLite has one writer at a time whatever `serialize` says."""
        connection = self.connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        else:
            connection.execute("COMMIT")

    def _migration_transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.transaction()

    def schema_versions(self) -> dict[str, int]:
        """As `Database.schema_versions`; a file that is no longer usable (truncated, replaced under the running
        bot) raises `StoreError` at once instead of a new connection waiting 30 s for its WAL lock."""
        health = self.health()
        if not health.usable:
            raise StoreError(health)
        return super().schema_versions()

    def tables(self, connection: Connection | None = None) -> list[str]:
        rows = (connection or self.connect()).execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        return [str(row[0]) for row in rows.fetchall()]

    def columns(self, table: str, connection: Connection | None = None) -> list[str]:
        rows = (connection or self.connect()).execute(f"PRAGMA table_info({table})").fetchall()
        return [str(row[1]) for row in rows]

    def table_ddl(self, table: str) -> str | None:
        """The `CREATE TABLE` statement of `table` as SQLite keeps it (`bizra db copy` recreates unknown tables)."""
        found = self.connect().execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                                       (table,)).fetchone()
        return str(found[0]) if found is not None and found[0] else None

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


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
