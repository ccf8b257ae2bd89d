"""Recovery on a store written before owners and heartbeats existed, and two replicas recovering at once.

The `rollback_confirmation` table as the previous version created it (no surface, channel, owner or
heartbeat columns) keeps working: its pending confirmation is confirmed by its button, and its
`running` row, stuck since its executor died, is taken over by exactly one of two replicas running
the recovery job at the same moment. Its image change had never reached the cluster, so it is
marked interrupted, audited and said in its thread; nothing is applied without a new confirmation.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.core.audit import latest
from bot.core.runtime import Runtime
from bot.features.rollback.recovery import recover
from commands.rollback import RollbackPlan
from tests.rollback.conftest import (
    ANNOTATION,
    BAD,
    GOOD,
    NS,
    RESPONDER,
    button_value,
    controller,
    image_patches,
    make_config,
    posted_confirmation,
    seed,
)
from tests.rollback.test_rollback_slack import MESSAGE_TS, _click
from tests.support.bot import running_bot
from tests.support.kube_api import KubeApiServer
from tests.support.polling import wait_until
from tests.support.slack import SlackRecorder

OLD_DDL = """
CREATE TABLE IF NOT EXISTS rollback_confirmation (
    id TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    outcome TEXT
);
"""


def _plan(plan_id: str, at: datetime) -> RollbackPlan:
    return RollbackPlan(id=plan_id, namespace=NS, deployment="node0", container="node0", current_image=BAD,
                        target_image=GOOD, source="deployment annotation", source_detail="old store",
                        reason="old", requested_by=RESPONDER, channel="C123", requested_at=at,
                        expires_at=at + timedelta(minutes=10))


def _old_store(path: Path) -> None:
    now = datetime.now(UTC)
    stuck_at = now - timedelta(hours=1)
    with sqlite3.connect(path) as connection:
        connection.executescript(OLD_DDL)
        connection.execute("INSERT INTO rollback_confirmation (id, plan, state, created_at, expires_at) "
                           "VALUES (?, ?, 'pending', ?, ?)",
                           ("oldpend", _plan("oldpend", now).model_dump_json(), now.isoformat(),
                            (now + timedelta(minutes=10)).isoformat()))
        connection.execute("INSERT INTO rollback_confirmation (id, plan, state, created_at, expires_at, decided_by, "
                           "decided_at) VALUES (?, ?, 'running', ?, ?, ?, ?)",
                           ("oldstuck", _plan("oldstuck", stuck_at).model_dump_json(), stuck_at.isoformat(),
                            (stuck_at + timedelta(minutes=10)).isoformat(), RESPONDER,
                            (stuck_at + timedelta(minutes=1)).isoformat()))


def test_a_store_from_the_previous_version_keeps_working_and_one_replica_recovers(
        api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed(api, annotations={ANNOTATION: GOOD})
    config = make_config(api, tmp_path)
    _old_store(tmp_path / "state.sqlite")
    with running_bot(slack_recorder, config=config) as first, running_bot(slack_recorder, config=config) as second:
        start = threading.Barrier(2)
        handled: list[list[str]] = []

        def run(runtime: Runtime) -> None:
            start.wait()
            handled.append(recover(runtime, at=datetime.now(UTC)))

        replicas = [threading.Thread(target=run, args=(bot.runtime,)) for bot in (first, second)]
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.join(30)
        assert sorted(handled) == [[], ["oldstuck"]], "exactly one replica took the stuck rollback over"
        assert image_patches(api) == [], "a change that never reached the cluster is not applied by recovery"

        with controller(api) as ctl:  # the old pending confirmation is still confirmed by its button
            _click(first, slack_recorder, "oldpend", message_ts=MESSAGE_TS)  # its reply had no ts: the click binds it
            ctl.join()
            slack_recorder.wait_for(lambda rs: any(r.path == "/response/click" for r in rs), timeout=20,
                                    what="the rollback result")
        entries = latest(first.runtime, 10)
    assert "Rollback complete" in json.dumps(slack_recorder.responses("click")[0].body)

    with sqlite3.connect(tmp_path / "state.sqlite") as connection:
        states = dict(connection.execute("SELECT id, state FROM rollback_confirmation").fetchall())
        columns = {row[1] for row in connection.execute("PRAGMA table_info(rollback_confirmation)")}
    assert states == {"oldpend": "finished", "oldstuck": "interrupted"}
    assert {"owner", "heartbeat_at", "channel", "message_ts"} <= columns
    interrupted = [e for e in entries if e.outcome == "interrupted"]
    assert len(interrupted) == 1 and "never reached the cluster" in interrupted[0].detail
    said = [json.dumps(r.body) for r in slack_recorder.calls("chat.postMessage") if "interrupted" in json.dumps(r.body)]
    assert len(said) == 1 and "Nothing was changed" in said[0]
    assert all(r.body.get("channel") == "C123" for r in slack_recorder.calls("chat.postMessage"))
    assert any(r.body.get("thread_ts") == MESSAGE_TS for r in slack_recorder.calls("chat.postMessage"))


def test_an_executor_that_stopped_heartbeating_is_taken_over_and_stands_down(
        api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    """A live executor blocked past the heartbeat timeout (a slow API server) loses the claim: the replica
    that took it over concludes the rollback, once; the first stands down without a second audit row."""
    seed(api, annotations={ANNOTATION: GOOD})
    config = make_config(api, tmp_path, heartbeat_timeout_seconds=0.5)
    with running_bot(slack_recorder, config=config) as first, running_bot(slack_recorder, config=config) as second:
        status, _ = first.command("rollback slow api", user_id=RESPONDER, name="cmd")
        assert status == 200
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/cmd" for r in rs), timeout=20,
                                what="the confirmation")
        plan_id = button_value(posted_confirmation(slack_recorder, slack_recorder.responses("cmd")[0]),
                               "rollback.confirm")
        _click(first, slack_recorder, plan_id)
        wait_until(lambda: image_patches(api), what="the image patch")
        api.slow("GET", "/deployments/node0", seconds=2, times=1)  # the first executor's next poll hangs
        taken: list[list[str]] = []
        stop = threading.Event()

        def second_replica() -> None:  # the recovery job's ticks on the other replica
            while not stop.is_set() and not taken:
                handled = recover(second.runtime, at=datetime.now(UTC))
                if handled:
                    taken.append(handled)
                stop.wait(0.05)  # the job's interval, shortened

        ticking = threading.Thread(target=second_replica)
        ticking.start()
        try:
            wait_until(lambda: _claim_no(tmp_path, plan_id) >= 2, timeout=20, what="the take-over")
            with controller(api) as ctl:
                ctl.join()
                slack_recorder.wait_for(lambda rs: any(r.path == "/response/click" for r in rs), timeout=20,
                                        what="the first executor standing down")
                ticking.join(30)
        finally:
            stop.set()
            ticking.join(30)
        entries = latest(first.runtime, 20)
    assert taken == [[plan_id]]
    [answer] = slack_recorder.responses("click")
    assert answer.body["response_type"] == "ephemeral" and "taken over by another replica" in answer.body["text"]
    assert [e.action for e in entries].count("rollback") == 1
    [final] = [e for e in entries if e.action == "rollback"]
    assert final.outcome == "ok" and "after the original executor" in final.detail
    assert len(list((tmp_path / "incidents").iterdir())) == 1
    with sqlite3.connect(tmp_path / "state.sqlite") as connection:
        [(state, outcome)] = connection.execute(
            "SELECT state, outcome FROM rollback_confirmation WHERE id = ?", (plan_id,)).fetchall()
    assert (state, outcome) == ("finished", "recovered")


def _claim_no(tmp_path: Path, plan_id: str) -> int:
    with sqlite3.connect(tmp_path / "state.sqlite") as connection:
        row = connection.execute("SELECT claim_no FROM rollback_confirmation WHERE id = ?", (plan_id,)).fetchone()
    return int(row[0]) if row else 0
