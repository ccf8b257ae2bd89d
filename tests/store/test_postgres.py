"""The PostgreSQL backend against a real server: clear refusals, no password anywhere, locks not timing.

A server nobody answers on, a wrong password and a dropped database each give `StoreError` with one line
(what, where, what to do); `bizra serve` refuses to start with it; `/healthz` and `/readyz` report it.
The outbox sender claims with `FOR UPDATE SKIP LOCKED`: a sender never waits for another one's row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bot.core.config import BizraConfig
from bot.core.outbox import PENDING, Outbox, Outgoing, Requester
from bot.core.settings import StoreSettings
from bot.core.store import StoreError, StoreState
from bot.core.store_factory import open_store, store_from_url
from bot.core.store_postgres import placeholders, postgres_ddl
from tests.support.bot import running_bot
from tests.support.cli import RunCli
from tests.support.polling import wait_until
from tests.support.postgres import PostgresDatabase, PostgresMissing, PostgresServer, _binary, _free_port
from tests.support.slack import SlackRecorder

REPO = Path(__file__).resolve().parents[2]


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_an_unreachable_server_is_one_clear_line(postgres_server: PostgresServer) -> None:
    url = f"postgresql://bizra@127.0.0.1:{_free_port()}/bizra"  # nothing listens there
    with pytest.raises(StoreError) as raised:
        store_from_url(url, env={}).open()
    message = str(raised.value)
    assert raised.value.health.state is StoreState.UNREACHABLE
    assert "\n" not in message and message.startswith(f"store {url} cannot be reached (")
    assert message.endswith("check store.url and that the PostgreSQL server is up and reachable from here")


def test_a_wrong_password_says_where_the_password_comes_from_and_never_shows_it(
        postgres_database: PostgresDatabase) -> None:
    wrong = "not-the-password-3141"
    with pytest.raises(StoreError) as raised:
        store_from_url(postgres_database.url, env={"BIZRA_STORE_PASSWORD": wrong}).open()
    message = str(raised.value)
    assert raised.value.health.state is StoreState.LOGIN_REFUSED
    assert "\n" not in message and wrong not in message and postgres_database.password not in message
    assert "password authentication failed" in message and "set BIZRA_STORE_PASSWORD (or PGPASSWORD)" in message
    assert message.startswith(f"store {postgres_database.url} refused the login")


def test_a_password_in_the_config_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        BizraConfig.model_validate({"store": {"url": "postgresql://bizra:hunter2@db:5432/bizra"}})
    text = "; ".join(error["msg"] for error in raised.value.errors())
    assert "holds a password" in text and "BIZRA_STORE_PASSWORD" in text and "hunter2" not in text


def test_bizra_serve_refuses_to_start_on_a_store_it_cannot_log_in_to(
        postgres_database: PostgresDatabase, tmp_path: Path, bizra_cli: RunCli,
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "bizra.yaml"
    config.write_text(yaml.safe_dump({"slo": {"enabled": False}, "store": {"url": postgres_database.url},
                                      "leader_election": {"enabled": False}}), encoding="utf-8")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "test-signing-secret")
    monkeypatch.setenv("BIZRA_STORE_PASSWORD", "wrong-password-2718")
    done = bizra_cli("serve", "--config", config)
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert lines == [f"bizra: store {postgres_database.url} refused the login ({lines[0].split('(', 1)[1]}"]
    assert "BIZRA_STORE_PASSWORD" in lines[0] and "wrong-password-2718" not in done.stderr + done.stdout


def test_healthz_names_the_postgresql_store_and_readyz_is_503_once_it_is_gone(
        postgres_env: PostgresDatabase, postgres_server: PostgresServer, slack_recorder: SlackRecorder) -> None:
    config = BizraConfig.model_validate({"store": {"url": postgres_env.url}, "slo": {"enabled": False}})
    with running_bot(slack_recorder, config=config) as bot:
        bot.runtime.store.get().open()
        status, health = _get(bot.url + "/healthz")
        assert status == 200 and health["store"]["state"] == "ok" and health["store"]["path"] == postgres_env.url
        assert postgres_env.password not in json.dumps(health)
        assert _get(bot.url + "/readyz")[0] == 200

        with postgres_server.admin() as admin:  # the database disappears under the running bot
            admin.execute(f'DROP DATABASE "{postgres_env.name}" WITH (FORCE)')
        status, ready = _get(bot.url + "/readyz")
        assert status == 503 and ready["ready"] is False
        assert ready["store"]["state"] == "login-refused" and "does not exist" in ready["store"]["detail"]
        assert _get(bot.url + "/healthz")[0] == 200  # liveness stays green: restarting would not mend it
        bot.runtime.store.get().close()


class _Recording:
    """A Transport (the outbox's port to Slack) that records what it was given."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    def send(self, message: Outgoing) -> str | None:
        self.sent.append(message)
        return f"1700000000.{message.id:06d}"

    def notify(self, requester: Requester, text: str) -> bool:
        return False


def test_an_outbox_sender_skips_a_row_another_sender_holds_instead_of_waiting(postgres_env: PostgresDatabase) -> None:
    db, other = store_from_url(postgres_env.url), store_from_url(postgres_env.url)
    try:
        transport = _Recording()
        sender = Outbox(db, transport, now=lambda: 1e12)
        row_id = sender.enqueue(kind="post", channel="C1", payload={"text": "held"})
        thread = sender.get(row_id).thread
        assert sender.get(row_id).state == PENDING
        held = threading.Event()
        release = threading.Event()

        def hold() -> None:  # another replica's sender, in the middle of claiming this very row
            with other.transaction(serialize=False) as connection:
                connection.execute("SELECT id FROM outbox WHERE id = ? FOR UPDATE", (row_id,))
                held.set()
                release.wait(60)

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(30)
        drained = threading.Thread(target=sender.drain_thread, args=(thread,))
        drained.start()
        drained.join(30)  # a deadline, not a measurement: a sender waiting on the lock would still be here
        finished_while_held = not drained.is_alive()
        release.set()
        holder.join(30)
        drained.join(30)
        assert finished_while_held, "the sender waited for the row another sender holds"
        assert transport.sent == []  # and did not take it, nor a later row of its thread
        sender.drain_thread(thread)  # once the lock is gone, the row goes out, once
        assert [message.id for message in transport.sent] == [row_id]
    finally:
        db.close()
        other.close()


def test_sql_is_translated_in_one_place() -> None:
    assert placeholders("SELECT * FROM t WHERE a = ? AND b LIKE '50%?' AND c = ?") == \
        "SELECT * FROM t WHERE a = %s AND b LIKE '50%%?' AND c = %s"
    assert postgres_ddl("id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL, v REAL, slot INTEGER PRIMARY KEY "
                        "CHECK (slot = 1)") == (
        "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT NOT NULL, v DOUBLE PRECISION, "
        "slot BIGINT PRIMARY KEY CHECK (slot = 1)")


def test_bizra_serve_on_postgresql_upgrades_the_schema_and_never_logs_the_password(
        postgres_database: PostgresDatabase, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    """A real `bizra serve` process: the store from `store.url`, its password from the environment."""
    config = tmp_path / "bizra.yaml"
    config.write_text(yaml.safe_dump({"slo": {"enabled": False}, "store": {"url": postgres_database.url},
                                      "leader_election": {"enabled": False}}), encoding="utf-8")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k not in ("PORT", "HOST")}
    env.update({"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "test-signing-secret",
                "SLACK_API_URL": slack_recorder.api_url, "HOST": "127.0.0.1", "PORT": str(port),
                "PYTHONUNBUFFERED": "1", **postgres_database.env})
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "--log-level", "DEBUG",
                                    "serve"], cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=sink,
                                   stderr=subprocess.STDOUT)
    try:
        def healthy() -> dict[str, Any] | None:
            assert process.poll() is None, log.read_text(encoding="utf-8")
            try:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
            except OSError:
                return None
            return body if status == 200 else None

        health = wait_until(healthy, timeout=60, what="bizra serve on PostgreSQL to answer /healthz")
        assert health["store"]["state"] == "ok" and health["store"]["path"] == postgres_database.url
    finally:
        process.terminate()
        process.wait(timeout=30)
    with postgres_database.connect() as check:
        versions = dict(check.execute("SELECT component, version FROM bizra_schema").fetchall())
    assert versions["canary"] == 2 and versions["audit"] == 1 and versions["slack_seen_requests"] == 1
    text = log.read_text(encoding="utf-8")
    assert f"store {postgres_database.url} (postgresql): ok" in text
    assert postgres_database.password not in text


def test_missing_postgresql_is_a_failure_that_says_how_to_install_it() -> None:
    with pytest.raises(PostgresMissing) as raised:
        _binary("initdb-of-no-installed-version")
    assert "bash scripts/install-system-deps.sh" in str(raised.value) and "apt-get install postgresql" in str(
        raised.value)


def test_the_database_url_can_come_from_the_environment_like_the_password(postgres_env: PostgresDatabase) -> None:
    """The PostgreSQL overlay takes the whole connection (URL and password) from a Secret: BIZRA_STORE_URL
    wins over the config file's store, and a password in it is refused there too."""
    from_file = StoreSettings()  # the SQLite default
    environment = {"BIZRA_STORE_URL": postgres_env.url, **postgres_env.env}
    store = open_store(from_file, env=environment)
    assert store.backend == "postgresql" and store.location == postgres_env.url
    store.open()
    with pytest.raises(ValueError, match="holds a password"):
        open_store(from_file, env={"BIZRA_STORE_URL": postgres_env.url.replace("bizra@", "bizra:s3cret@")})
