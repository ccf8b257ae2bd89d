"""`bizra db copy`: move a store to another backend (a single-replica SQLite install to PostgreSQL) losing nothing.

Both stores are upgraded to this release's schema first, so every component's tables exist on both
sides with the same columns. Then, in ONE transaction on the target: every table of the source (the
versioned components' and any other, e.g. a table made by unversioned `ensure_schema` DDL, recreated
from SQLite's own definition) is copied row by row with its ids, the row counts of both sides are
compared, and identity sequences are moved past the copied ids (the next audit entry does not collide
with a copied one). Any mismatch or error rolls the whole copy back: the target is as it was.

A target that already holds rows is refused (two stores would mix) unless `overwrite`, which empties
the copied tables first, inside the same transaction.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.core.config_file import ConfigError
from bot.core.migrations import Schema
from bot.core.store import STORE_TABLES, Connection, Database

BATCH_ROWS = 5000


class CopyRefused(ConfigError):
    """The copy was not started or was rolled back; worded for the operator."""


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    created: list[str] = field(default_factory=list)  # tables made on the target from the source's definition
    identities_reset: list[str] = field(default_factory=list)  # "table.column"

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _count(connection: Connection, table: str) -> int:
    return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def copy_store(source: Database, target: Database, schemas: Sequence[Schema], *, overwrite: bool = False) -> CopyReport:
    source.open()
    target.open()
    source.upgrade(schemas)  # a source of an earlier release gets this one's columns (additive, lossless)
    target.upgrade(schemas)
    tables = [table for table in source.tables() if table not in STORE_TABLES]
    report = CopyReport()
    missing = [table for table in tables if table not in set(target.tables())]
    for table in missing:
        ddl = source.table_ddl(table)
        if ddl is None:
            raise CopyRefused(f"bizra db copy: table {table} of {source.location} is unknown to this release and "
                              f"{target.location} lacks it; create it there first")
        target.ensure_schema(ddl)
        report.created.append(table)
    reader = source.connect()
    with target.transaction() as writer:
        occupied = {table: n for table in tables if (n := _count(writer, table))}
        if occupied and not overwrite:
            held = ", ".join(f"{table}: {n}" for table, n in sorted(occupied.items()))
            raise CopyRefused(f"bizra db copy: {target.location} already holds rows ({held}); copying would mix two "
                              "stores. Copy into an empty database, or pass --overwrite to replace those rows")
        for table in occupied:
            writer.execute(f"DELETE FROM {table}")
        for table in tables:
            report.rows[table] = _copy_table(reader, writer, table, source.columns(table), target.columns(table))
        for table in tables:
            expected, copied = _count(reader, table), _count(writer, table)
            if expected != copied:
                raise CopyRefused(f"bizra db copy: {table} has {expected} rows in {source.location} but {copied} "
                                  f"arrived in {target.location}; nothing was copied (rolled back)")
        for table, column in target.identity_columns(writer):
            if table in report.rows:
                target.reset_identity(writer, table, column)
                report.identities_reset.append(f"{table}.{column}")
    return report


def _copy_table(reader: Connection, writer: Connection, table: str, source_columns: list[str],
                target_columns: list[str]) -> int:
    wanted = set(target_columns)
    columns = [column for column in source_columns if column in wanted]
    names = ", ".join(columns)
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' for _ in columns)})"
    rows = iter(reader.execute(f"SELECT {names} FROM {table}"))
    copied = 0
    while batch := [tuple(row) for row in itertools.islice(rows, BATCH_ROWS)]:
        writer.executemany(insert, batch)
        copied += len(batch)
    return copied
