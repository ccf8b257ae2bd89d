"""Issue 12.6: a broken store is never used silently.

`bizra serve` (a real process) refuses to start on an empty, truncated or foreign store file with one
line saying what, where and how to restore, exit 2, and leaves the file as it was; a missing file is
created and logged. `/healthz` (liveness) names the store's state; `/readyz` answers 503 while the
store is unusable, over real HTTP to the Bolt app.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from bot.assembly import build_runtime
from bot.core.audit import latest, record
from bot.core.config import BizraConfig, Secrets
from bot.core.store import SqliteDatabase, StoreError
from tests.slack.test_socket_mode import REPO, _free_port
from tests.support.bot import running_bot
from tests.support.polling import wait_until
from tests.support.slack import SlackRecorder

SIGNING_SECRET = "test-signing-secret"  # made up for tests


def _store_with_history(path: Path, rows: int = 400) -> None:
    """A store the bot has used for a while: audit entries worth losing."""
    runtime = build_runtime(_config(path), Secrets())
    for n in range(rows):
        record(runtime, actor="U1", channel="C1", action="canary.start", target="node0", before="a" * 100,
               after="b" * 100, outcome="ok", detail=f"entry {n}")
    connection = runtime.store.get().connect()
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def _config(path: Path) -> BizraConfig:
    return BizraConfig.model_validate({"store": {"path": str(path)}, "slo": {"enabled": False}})


@contextmanager
def _serve(tmp_path: Path, store: Path, recorder: SlackRecorder) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    config = tmp_path / "bizra.yaml"
    config.write_text(yaml.safe_dump({"slo": {"enabled": False}, "store": {"path": str(store)}}), encoding="utf-8")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k not in ("PORT", "HOST")}
    env.update({"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": recorder.api_url, "HOST": "127.0.0.1", "PORT": str(port), "PYTHONUNBUFFERED": "1"})
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "serve"], cwd=REPO, env=env,
                                   stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield process, port, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _exits_or_serves(process: subprocess.Popen[bytes], port: int) -> int | str:
    """Wait until serve exits (its exit code) or answers /healthz ("serving")."""
    outcome: list[int | str] = []

    def settled() -> bool:
        if process.poll() is not None:
            outcome.append(process.returncode)
            return True
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                outcome.append("serving")
                return True
        except OSError:
            return False

    wait_until(settled, timeout=30, what="serve to exit or to serve")
    return outcome[0]


@pytest.mark.parametrize("damage", ["emptied", "half-truncated", "overwritten"])
def test_serve_refuses_a_broken_store_with_one_line_and_leaves_it_untouched(
        damage: str, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    store = tmp_path / "state.sqlite"
    _store_with_history(store)
    size = store.stat().st_size
    if damage == "emptied":
        store.write_bytes(b"")
    elif damage == "half-truncated":
        with store.open("r+b") as handle:
            handle.truncate(size // 2)
    else:
        store.write_bytes(b"not a database at all\n" * 200)
    before = store.read_bytes()

    with _serve(tmp_path, store, slack_recorder) as (process, port, log):
        assert _exits_or_serves(process, port) == 2, f"serve must refuse a {damage} store:\n{log.read_text()}"
    lines = [line for line in log.read_text().splitlines() if line.startswith("bizra: ")]
    assert len(lines) == 1, log.read_text()
    assert lines[0].startswith(f"bizra: store {store} ")
    assert {"emptied": "is empty", "half-truncated": "is corrupt",
            "overwritten": "is not a SQLite database"}[damage] in lines[0]
    assert lines[0].endswith("restore it from backup or move it aside to start empty")
    assert store.read_bytes() == before, "the broken file is kept as it was, never re-created"


def test_a_missing_store_is_created_and_the_log_says_so(tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    store = tmp_path / "new" / "state.sqlite"
    with _serve(tmp_path, store, slack_recorder) as (process, port, log):
        assert _exits_or_serves(process, port) == "serving", log.read_text()
        status, body = _get(f"http://127.0.0.1:{port}/readyz")
        assert status == 200 and body["ready"] is True
    assert "did not exist: created a new, empty store" in log.read_text()
    assert store.stat().st_size > 0


def test_an_empty_store_file_is_never_silently_recreated_by_any_use(tmp_path: Path) -> None:
    store = tmp_path / "state.sqlite"
    _store_with_history(store, rows=3)
    store.write_bytes(b"")
    runtime = build_runtime(_config(store), Secrets())
    with pytest.raises(StoreError, match="is empty"):
        record(runtime, actor="U1", channel="C1", action="x", target="y", before="", after="", outcome="ok")
    with pytest.raises(StoreError):
        latest(runtime)
    assert store.stat().st_size == 0


def test_a_sqlite_file_without_the_bots_tables_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "other.sqlite"
    with sqlite3.connect(store) as other:
        other.execute("PRAGMA user_version = 7")  # a valid, table-less SQLite file (someone else's)
        other.execute("CREATE TABLE t (x)")
        other.execute("DROP TABLE t")
    with pytest.raises(StoreError, match="holds none of the bot's tables"):
        SqliteDatabase(store).open()


def test_a_store_from_before_the_marker_is_adopted(tmp_path: Path) -> None:
    store = tmp_path / "legacy.sqlite"
    with sqlite3.connect(store) as legacy:
        legacy.execute("CREATE TABLE audit_log (id INTEGER PRIMARY KEY)")
        legacy.execute("INSERT INTO audit_log VALUES (1)")
    SqliteDatabase(store).open()
    with sqlite3.connect(store) as check:
        assert check.execute("SELECT count(*) FROM audit_log").fetchone() == (1,)
        assert check.execute("SELECT count(*) FROM bizra_store").fetchone() == (1,)


def test_healthz_names_the_store_and_readyz_is_503_once_it_breaks(tmp_path: Path,
                                                                  slack_recorder: SlackRecorder) -> None:
    store = tmp_path / "state.sqlite"
    with running_bot(slack_recorder, config=_config(store)) as bot:
        bot.runtime.store.get().open()
        status, health = _get(bot.url + "/healthz")
        assert status == 200 and health["status"] == "ok"
        assert health["store"] == {"state": "ok", "path": str(store), "detail": health["store"]["detail"],  # type: ignore[index]
                                   "usable": True}
        status, ready = _get(bot.url + "/readyz")
        # The detail counts tables, which the bot's first requests and jobs may add in between.
        assert status == 200 and ready["ready"] is True
        assert {**ready["store"], "detail": ""} == {**health["store"], "detail": ""}  # type: ignore[dict-item]

        store.write_bytes(b"")  # truncated under the running bot
        status, health = _get(bot.url + "/healthz")
        assert status == 200, "liveness stays green: restarting would not mend the store"
        assert health["store"]["state"] == "empty"  # type: ignore[index]
        status, ready = _get(bot.url + "/readyz")
        assert status == 503 and ready["ready"] is False
        assert ready["store"]["state"] == "empty" and ready["store"]["path"] == str(store)  # type: ignore[index]


def test_readyz_finds_a_store_truncated_under_the_running_bot(tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    store = tmp_path / "state.sqlite"
    _store_with_history(store)
    with running_bot(slack_recorder, config=_config(store)) as bot:
        bot.runtime.store.get().open()  # started on a good store
        with store.open("r+b") as handle:
            handle.truncate(store.stat().st_size // 2)
        status, ready = _get(bot.url + "/readyz")
        assert status == 503, ready
        assert ready["store"]["state"] == "corrupt"  # type: ignore[index]
        assert _get(bot.url + "/healthz")[0] == 200
