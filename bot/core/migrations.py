"""Versioned schema migrations: each component of the bot (a feature, the audit log, the outbox) owns its
tables and declares them as a `Schema` of ordered `Migration`s.

    SCHEMA = Schema("canary", [
        Migration(1, CANARY_DDL, columns={"canary_active": {"message_channel": "TEXT"}}),
        Migration(2, "ALTER TABLE canary_active ADD COLUMN paused_at TEXT"),
    ])

The store keeps one row per component in `bizra_schema` (component, version, updated_at). A component is
upgraded lazily the first time a process uses it (`db.ensure(SCHEMA)` in the feature's store module), and
all at once by `bizra db upgrade` and at `bizra serve` start-up (`db.upgrade(registry.schemas)`); either
way under the store's migration lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: `pg_advisory_xact_lock`), in
one transaction per component, so two replicas starting together apply each migration once and a failed
migration leaves the component at its previous version.

A migration's `sql` is portable DDL (SQLite spellings: `INTEGER PRIMARY KEY AUTOINCREMENT`, `INTEGER`,
`REAL`; the PostgreSQL backend translates them in one place), statements separated by `;`. `columns`
adds the columns a table lacks, for stores written before versioning existed (the tables of commit
10b9b11 and earlier were upgraded in place by "add the missing columns" code); it is idempotent, so
version 1 of every component adopts any such store without losing a row.

Migrations only ever add (tables, columns, indexes): a replica still running the previous release during
a rolling update keeps working against the upgraded schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Migration:
    version: int
    sql: str = ""
    # table -> {column: type}: added when missing (stores written before versioned migrations).
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Schema:
    component: str
    migrations: Sequence[Migration]

    def __post_init__(self) -> None:
        versions = [migration.version for migration in self.migrations]
        if not versions or versions != list(range(1, len(versions) + 1)):
            raise ValueError(f"schema {self.component!r}: migrations must be numbered 1, 2, 3, … in order "
                             f"(got {versions})")

    @property
    def latest(self) -> int:
        return self.migrations[-1].version


def statements(sql: str) -> list[str]:
    """The statements of a DDL script: `--` comments dropped, split on `;` (DDL here holds no `;` in literals)."""
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]
