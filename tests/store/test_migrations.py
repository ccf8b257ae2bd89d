"""Upgrading a store written by the code before versioned migrations (commit 10b9b11) loses nothing,
and `bizra db copy` moves it to PostgreSQL whole; `bizra db status` / `upgrade` say where things stand.

The fixture `fixtures/legacy-10b9b11.sql` is a SQL dump of a store that code made, with rows in every
table (how: fixtures/make_legacy_store.py.in).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.assembly import build_runtime
from bot.core import audit
from bot.core.config import BizraConfig, Secrets
from bot.core.outbox import Outbox, Outgoing, Requester
from bot.core.runtime import Runtime
from bot.core.store import STORE_TABLES, Database
from bot.core.store_factory import store_from_url
from bot.core.store_postgres import close_stores
from bot.features.canary import store as canary
from bot.features.releases.history import history
from bot.features.rollback import confirmations
from bot.features.signoff import store as signoff
from bot.features.slo.live import silences_at
from bot.features.slo.watch import find_alert, load_state
from bot.surfaces.cli.db import schemas_of
from commands.ports import FixedClock
from tests.support.cli import RunCli
from tests.support.postgres import PostgresDatabase

DUMP = Path(__file__).parent / "fixtures" / "legacy-10b9b11.sql"
T1 = datetime(2026, 11, 30, 10, 5, tzinfo=UTC)
LEGACY_TABLES = {
    "audit_log": 2, "outbox": 2, "canary_active": 1, "canary_history": 2, "evidence_archives": 1,
    "evidence_threads": 1, "home_viewers": 1, "release_history": 2, "rollback_confirmation": 2,
    "signoff_ticks": 2, "signoff_message": 1, "slo_digests": 1, "slo_status_message": 1, "slo_silences": 1,
    "slo_state": 1, "slo_alerts": 1, "slo_samples": 2, "slack_seen_requests": 1,
}


def _legacy_store(tmp_path: Path) -> Path:
    path = tmp_path / "state.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript(DUMP.read_text(encoding="utf-8"))
    return path


def _contents(db: Database, tables: dict[str, list[str]]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, by the given columns, in a stable order."""
    return {table: sorted((tuple(row) for row in db.connect().execute(f"SELECT {', '.join(columns)} FROM {table}")),
                          key=repr)
            for table, columns in tables.items()}


def _runtime(section: dict[str, str]) -> Runtime:
    return build_runtime(BizraConfig.model_validate({"store": section}), Secrets(), clock=FixedClock(T1))


class _Unsent:
    def send(self, message: Outgoing) -> str | None:
        raise AssertionError("nothing is sent by reading the outbox")

    def notify(self, requester: Requester, text: str) -> bool:
        return False


def _reads_everything(runtime: Runtime) -> None:
    """The app reads the old rows through its own code (models validate what the old code wrote)."""
    entries = audit.latest(runtime, 10)
    assert [entry.action for entry in entries] == ["rollback.confirm", "canary.start"]
    assert entries[0].detail == "not in group; it's refused"
    active = canary.load(runtime)
    assert active is not None and active.run.id == "cn-0001" and active.run.stage == 1
    assert active.run.message_channel == "C100"
    assert [entry.event for entry in canary.history(runtime)] == ["promote", "start"]
    assert [record.source for record in history(runtime, 10)] == ["rollback", "canary"]
    plan = confirmations.load(runtime, "rb-0001")
    assert plan is not None and plan.reason == "latency breach"
    assert confirmations.state_of(runtime, "rb-0001") == "finished"
    assert confirmations.state_of(runtime, "rb-0002") == "pending"
    assert [tick.item for tick in signoff.ticks(runtime)] == ["dod.evidence", "security"]
    assert signoff.message(runtime) == ("C100", "1764496802.000400")
    assert [silence.reason for silence in silences_at(runtime, T1)] == ["load test"]
    assert load_state(runtime).last_evaluated_at == T1
    alert = find_alert(runtime, "latency.20261130T095500")
    assert alert is not None and alert.message_ts == "1764496804.000700"
    rows = Outbox(runtime.store.get(), _Unsent()).rows()
    assert [(row.state, row.payload["text"], row.attempts) for row in rows] == [
        ("sent", "Canary started", 1), ("pending", "Stage 2 of 3", 3)]
    assert rows[0].requester == Requester(user_id="U100", channel_id="C100")


def test_a_store_written_before_versioned_migrations_upgrades_losing_nothing(tmp_path: Path) -> None:
    path = _legacy_store(tmp_path)
    legacy = store_from_url(f"sqlite:///{path}")
    columns = {table: legacy.columns(table) for table in LEGACY_TABLES}
    before = _contents(legacy, columns)
    assert {table: len(rows) for table, rows in before.items()} == LEGACY_TABLES  # the fixture is what it says
    legacy.close()

    runtime = _runtime({"path": str(path)})
    db = runtime.store.get()
    steps = db.upgrade(schemas_of(runtime))
    assert all(old == 0 for old, _ in steps.values()), steps  # nothing was versioned before
    assert db.schema_versions() == {component: new for component, (_, new) in steps.items()}
    assert _contents(db, columns) == before  # every row, every original column, as it was
    assert db.upgrade(schemas_of(runtime)) == {component: (new, new) for component, (_, new) in steps.items()}
    _reads_everything(runtime)
    # New columns are there for new code: the canary engine (migration 2 of `canary`).
    assert {"engine", "revision"} <= set(db.columns("canary_active"))


def test_bizra_db_copy_moves_a_sqlite_store_to_postgresql_whole(tmp_path: Path, postgres_env: PostgresDatabase,
                                                              bizra_cli: RunCli) -> None:
    path = _legacy_store(tmp_path)
    source = f"sqlite:///{path}"
    done = bizra_cli("db", "copy", "--from", source, "--to", postgres_env.url)
    assert done.returncode == 0, done.stderr
    assert f"to {postgres_env.url} (row counts verified" in done.stdout
    assert postgres_env.password not in done.stdout + done.stderr

    sqlite_store, pg_store = store_from_url(source), store_from_url(postgres_env.url)
    try:
        tables = [table for table in sqlite_store.tables() if table not in STORE_TABLES]
        assert set(LEGACY_TABLES) <= set(tables)
        columns = {table: sqlite_store.columns(table) for table in tables}
        assert _contents(pg_store, columns) == _contents(sqlite_store, columns)
        assert pg_store.schema_versions() == sqlite_store.schema_versions()
    finally:
        sqlite_store.close()
        pg_store.close()

    runtime = _runtime({"url": postgres_env.url})
    _reads_everything(runtime)
    # Identity sequences moved past the copied ids: new rows do not collide with copied ones.
    assert audit.record(runtime, actor="U1", channel="C1", action="db.copy", target="store", before="", after="",
                        outcome="ok") == 3
    close_stores(dbname=postgres_env.name)

    again = bizra_cli("db", "copy", "--from", source, "--to", postgres_env.url)
    assert again.returncode == 2
    assert "already holds rows (audit_log: 3" in again.stderr and "--overwrite" in again.stderr
    replaced = bizra_cli("db", "copy", "--from", source, "--to", postgres_env.url, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    check = store_from_url(postgres_env.url)
    try:
        assert check.connect().execute("SELECT count(*) FROM audit_log").fetchone()[0] == 2
    finally:
        check.close()


def test_bizra_db_status_and_upgrade_name_the_backend_and_every_component(
        tmp_path: Path, bizra_cli: RunCli, store_section: dict[str, str]) -> None:
    config = tmp_path / "bizra.yaml"
    key = "url" if "url" in store_section else "path"
    config.write_text(f"store:\n  {key}: {store_section[key]}\n", encoding="utf-8")
    status = bizra_cli("db", "status", "--config", config)
    assert status.returncode == 0, status.stderr
    backend = "postgresql" if key == "url" else "sqlite"
    assert status.stdout.startswith(f"store: {backend} at {store_section[key]} (ok")
    assert "  canary                 0  (version 2 available: bizra db upgrade)" in status.stdout
    upgrade = bizra_cli("db", "upgrade", "--config", config)
    assert upgrade.returncode == 0, upgrade.stderr
    assert "  canary                 0 → 2" in upgrade.stdout
    after = bizra_cli("db", "status", "--config", config)
    assert "  canary                 2\n" in after.stdout and "behind" not in after.stdout
    assert "0 component(s) upgraded" in bizra_cli("db", "upgrade", "--config", config).stdout


@pytest.mark.parametrize("url, problem", [
    ("mysql://db/bizra", "use sqlite:///path/to/state.sqlite or postgresql://user@host:5432/database"),
    ("postgresql://bizra:s3cret@db/bizra", "holds a password"),
])
def test_bizra_db_copy_refuses_a_url_it_cannot_use(bizra_cli: RunCli, url: str, problem: str) -> None:
    done = bizra_cli("db", "copy", "--from", "sqlite:///x.sqlite", "--to", url)
    assert done.returncode == 2 and problem in done.stderr and "s3cret" not in done.stderr
