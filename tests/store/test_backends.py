"""What the store guarantees, on both backends (each test runs as [sqlite] and [postgresql]).

The calling code is the same everywhere: `db.connect().execute(sql, params)` with `?` placeholders,
rows by column name and by index, `RETURNING id`, `ON CONFLICT`, and `with db.transaction()` making a
check-then-write happen once across replicas (here: separate `Database` objects, each with its own
connections or pool, racing from threads). Versioned schemas apply each migration once, also when
several replicas start at once, and adopt tables made before versioning without losing a row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from bot.core.migrations import Migration, Schema
from bot.core.store import Database, Row, inserted_id
from bot.core.store_factory import store_from_url

NOTES = Schema("notes", [Migration(1, """
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,     -- may hold % and ? as text
    weight REAL,
    seen INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS notes_seen ON notes (seen);
""")])


def _url(section: dict[str, str]) -> str:
    return section.get("url") or f"sqlite:///{section['path']}"


@contextmanager
def _replicas(section: dict[str, str], count: int) -> Iterator[list[Database]]:
    """`count` stores on the same database, each as a separate replica would hold it."""
    stores = [store_from_url(_url(section)) for _ in range(count)]
    try:
        yield stores
    finally:
        for db in stores:
            db.close()


def _race(count: int, body: Callable[[int], object]) -> list[object]:
    """Run `body(n)` on `count` threads released together; their results (or exceptions) in order."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = body(n)
        except Exception as exc:  # a lost race must be an answer, never an error: the test shows it
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a racing thread never finished"
    return results


def test_rows_read_by_name_and_index_and_ids_come_back_from_returning(any_store: Database) -> None:
    any_store.ensure(NOTES)
    connection = any_store.connect()
    first = inserted_id(connection, "INSERT INTO notes (topic, body, weight) VALUES (?, ?, ?)",
                        ("canary", "50% of traffic? yes", 0.5))
    second = inserted_id(connection, "INSERT INTO notes (topic, body) VALUES (?, ?)", ("rollback", "it's done"))
    assert second == first + 1

    row = connection.execute("SELECT id, topic, body, weight, seen FROM notes WHERE topic = ?", ("canary",)).fetchone()
    assert isinstance(row, Row)
    assert row["body"] == row[2] == "50% of traffic? yes"  # `%` and `?` in values are data, not placeholders
    assert row["weight"] == 0.5 and row["seen"] == 0 and isinstance(row["id"], int)
    assert dict(row) == {"id": first, "topic": "canary", "body": "50% of traffic? yes", "weight": 0.5, "seen": 0}
    assert tuple(row) == (first, "canary", "50% of traffic? yes", 0.5, 0)
    assert [tuple(r) for r in connection.execute("SELECT topic FROM notes ORDER BY id")] == [("canary",), ("rollback",)]
    assert connection.execute("SELECT topic FROM notes WHERE topic LIKE '%back'").fetchall()[0]["topic"] == "rollback"
    with pytest.raises(IndexError, match="no column named 'nope'"):
        row["nope"]


def test_on_conflict_and_rowcount_say_who_inserted_and_updated(any_store: Database) -> None:
    any_store.ensure(NOTES)
    connection = any_store.connect()
    upsert = ("INSERT INTO notes (topic, body) VALUES (?, ?) "
              "ON CONFLICT (topic) DO UPDATE SET body = excluded.body")
    ignore = "INSERT INTO notes (topic, body) VALUES (?, ?) ON CONFLICT (topic) DO NOTHING"
    assert connection.execute(ignore, ("slo", "first")).rowcount == 1
    assert connection.execute(ignore, ("slo", "second")).rowcount == 0
    connection.execute(upsert, ("slo", "third"))
    assert connection.execute("SELECT body FROM notes WHERE topic = ?", ("slo",)).fetchone()["body"] == "third"
    assert connection.execute("UPDATE notes SET seen = ? WHERE topic = ? AND seen = ?", (1, "slo", 0)).rowcount == 1
    assert connection.execute("UPDATE notes SET seen = ? WHERE topic = ? AND seen = ?", (1, "slo", 0)).rowcount == 0


def test_a_failed_transaction_leaves_nothing_behind(any_store: Database) -> None:
    any_store.ensure(NOTES)
    with pytest.raises(RuntimeError, match="half way"), any_store.transaction() as connection:
        connection.execute("INSERT INTO notes (topic, body) VALUES (?, ?)", ("a", "written"))
        raise RuntimeError("half way")
    assert any_store.connect().execute("SELECT count(*) FROM notes").fetchone()[0] == 0
    with any_store.transaction() as connection:  # the store is usable again afterwards
        connection.execute("INSERT INTO notes (topic, body) VALUES (?, ?)", ("b", "kept"))
    assert any_store.connect().execute("SELECT topic FROM notes").fetchall() == [("b",)]


def test_check_then_write_in_a_transaction_has_one_winner_across_replicas(store_section: dict[str, str]) -> None:
    """The shape of every claim in the bot: read, decide, write. No unique key helps here: only the
    transaction's serialisation keeps the second replica from deciding on what the first is writing."""
    with _replicas(store_section, 8) as stores:
        stores[0].ensure(NOTES)

        def claim(n: int) -> bool:
            with stores[n].transaction() as connection:
                taken = connection.execute("SELECT count(*) FROM notes WHERE topic LIKE 'claim:%'").fetchone()[0]
                if taken:
                    return False
                connection.execute("INSERT INTO notes (topic, body) VALUES (?, ?)", (f"claim:{n}", "mine"))
                return True

        results = _race(len(stores), claim)
        assert results.count(True) == 1 and results.count(False) == len(stores) - 1, results
        rows = stores[0].connect().execute("SELECT topic FROM notes").fetchall()
        assert len(rows) == 1 and rows[0]["topic"] == f"claim:{results.index(True)}"


def test_a_conditional_update_claims_once_across_replicas(store_section: dict[str, str]) -> None:
    with _replicas(store_section, 8) as stores:
        stores[0].ensure(NOTES)
        stores[0].connect().execute("INSERT INTO notes (topic, body) VALUES (?, ?)", ("confirm", "pending"))

        def click(n: int) -> int:
            return int(stores[n].connect().execute(
                "UPDATE notes SET body = ?, seen = ? WHERE topic = ? AND body = ?",
                ("running", n + 1, "confirm", "pending")).rowcount)

        results = _race(len(stores), click)
        assert sorted(results) == [0] * (len(stores) - 1) + [1], results  # type: ignore[type-var]


def test_each_migration_runs_once_and_later_ones_only_add(store_section: dict[str, str]) -> None:
    v1 = Schema("tickets", [
        Migration(1, "CREATE TABLE IF NOT EXISTS tickets (id TEXT PRIMARY KEY, state TEXT NOT NULL)")])
    v2 = Schema("tickets", [*v1.migrations,
                            Migration(2, "ALTER TABLE tickets ADD COLUMN owner TEXT"),
                            Migration(3, "CREATE INDEX IF NOT EXISTS tickets_owner ON tickets (owner)")])
    with _replicas(store_section, 2) as (old, new):
        assert old.upgrade([v1]) == {"tickets": (0, 1)}
        old.connect().execute("INSERT INTO tickets (id, state) VALUES (?, ?)", ("t1", "open"))
        assert new.upgrade([v2]) == {"tickets": (1, 3)}  # the next release starts
        assert new.upgrade([v2]) == {"tickets": (3, 3)}  # and again: nothing runs twice
        assert new.schema_versions()["tickets"] == 3
        assert new.connect().execute("SELECT id, state, owner FROM tickets").fetchall() == [("t1", "open", None)]
        old.ensure(v1)  # the previous release, still running during a rolling update, keeps working
        old.connect().execute("INSERT INTO tickets (id, state) VALUES (?, ?)", ("t2", "open"))
        assert new.connect().execute("SELECT count(*) FROM tickets").fetchone()[0] == 2


def test_replicas_starting_at_once_apply_each_migration_once(store_section: dict[str, str]) -> None:
    """Without the migration lock, the second ALTER TABLE would fail ("duplicate column")."""
    schema = Schema("racing", [
        Migration(1, "CREATE TABLE IF NOT EXISTS racing (id TEXT PRIMARY KEY)"),
        Migration(2, "ALTER TABLE racing ADD COLUMN extra TEXT"),
        Migration(3, "INSERT INTO racing (id) VALUES ('migrated once')"),
    ])
    with _replicas(store_section, 6) as stores:
        results = _race(len(stores), lambda n: stores[n].upgrade([schema])["racing"])
        assert sorted(results) == [(0, 3)] + [(3, 3)] * (len(stores) - 1), results  # type: ignore[type-var]
        assert stores[0].connect().execute("SELECT id FROM racing").fetchall() == [("migrated once",)]


def test_version_one_adopts_a_table_made_before_versioning_and_adds_its_missing_columns(
        store_section: dict[str, str]) -> None:
    with _replicas(store_section, 1) as (db,):
        db.ensure_schema("CREATE TABLE IF NOT EXISTS legacy (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL)")
        db.connect().execute("INSERT INTO legacy (name) VALUES (?)", ("kept",))
        adopted = Schema("legacy", [Migration(
            1, "CREATE TABLE IF NOT EXISTS legacy (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, "
               "colour TEXT NOT NULL DEFAULT 'blue')",
            columns={"legacy": {"colour": "TEXT NOT NULL DEFAULT 'blue'"}})])
        db.ensure(adopted)
        assert db.columns("legacy") == ["id", "name", "colour"]
        assert db.connect().execute("SELECT id, name, colour FROM legacy").fetchall() == [(1, "kept", "blue")]
        assert inserted_id(db.connect(), "INSERT INTO legacy (name) VALUES (?)", ("new",)) == 2


def test_ensure_schema_still_runs_unversioned_portable_ddl(any_store: Database) -> None:
    ddl = """
    CREATE TABLE IF NOT EXISTS samples (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        slot INTEGER NOT NULL,
        value REAL
    );
    CREATE INDEX IF NOT EXISTS samples_slot ON samples (slot);
    """
    any_store.ensure_schema(ddl)
    any_store.ensure_schema(ddl)  # once per process; idempotent anyway
    big = 2**40  # an INTEGER column holds 64-bit values on both backends
    assert inserted_id(any_store.connect(), "INSERT INTO samples (slot, value) VALUES (?, ?)", (big, 1.25)) == 1
    assert any_store.connect().execute("SELECT slot, value FROM samples").fetchone() == (big, 1.25)
    assert "samples" in any_store.tables()
