"""Issue 12 #5: `bizra serve` killed (`kill -9`) while it follows a rollback's rollout.

Real processes on one store file, as two replicas on a shared volume or a pod restarted: the first
claims the confirmation and follows the rollout (the deployment controller is held, so the rollout
does not finish), and dies. The next process finds the claim's heartbeat stale, takes it over,
says so in the confirmation's thread, and either follows the rollout to its end (bundle, final
audit row, last stable) or, when the rollout cannot be followed, marks it interrupted and says why.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.rollback.conftest import (
    ANNOTATION,
    BAD,
    GOOD,
    NS,
    RESPONDER,
    button_value,
    confirmation,
    controller,
    image_patches,
    posted_confirmation,
)
from tests.rollback.conftest import seed as seed_deployment
from tests.support.kube_api import KubeApiServer
from tests.support.polling import wait_until
from tests.support.slack import SlackRecorder, block_action_body, post, sign, slash_command_body

REPO = Path(__file__).resolve().parents[2]
SIGNING_SECRET = "test-signing-secret"  # made up for tests
MESSAGE_TS = "1700000000.000300"  # the message of a confirmation row written by hand (`_stuck_row`)
HEARTBEAT_TIMEOUT = 1.5


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(api: KubeApiServer, tmp_path: Path) -> Path:
    path = tmp_path / "bizra.yaml"
    path.write_text(yaml.safe_dump({
        "store": {"path": str(tmp_path / "state.sqlite")},
        "slo": {"enabled": False},
        "slack": {"release_channel": "C123", "messages_per_second": 50},
        "release": {
            "kube": {"mode": "kubeconfig", "kubeconfig": str(api.write_kubeconfig(tmp_path / "kubeconfig")),
                     "timeout_seconds": 3},
            "rollback": {"incidents_dir": str(tmp_path / "incidents"), "poll_interval_seconds": 0.05,
                         "rollout_deadline_seconds": 60, "heartbeat_timeout_seconds": HEARTBEAT_TIMEOUT},
        },
        "access": {"roles": {"responder": {"users": [RESPONDER], "permissions": ["rollback", "audit"]}}},
    }), encoding="utf-8")
    return path


@dataclass
class Serve:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def send(self, body: str) -> int:
        return post(f"http://127.0.0.1:{self.port}/slack/events", body, sign(SIGNING_SECRET, body))[0]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def serve(config: Path, recorder: SlackRecorder, tmp_path: Path, name: str) -> Iterator[Serve]:
    port = _free_port()
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": recorder.api_url, "HOST": "127.0.0.1", "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "serve"], cwd=REPO,
                                   env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _healthy(port) or process.poll() is not None, timeout=30, what=f"{name}'s /healthz")
        assert process.poll() is None, log.read_text()
        yield Serve(process, port, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _row(tmp_path: Path, plan_id: str) -> dict[str, Any]:
    with sqlite3.connect(tmp_path / "state.sqlite") as connection:
        connection.row_factory = sqlite3.Row
        row = connection.execute("SELECT * FROM rollback_confirmation WHERE id = ?", (plan_id,)).fetchone()
    return dict(row) if row else {}


def _audit(tmp_path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(tmp_path / "state.sqlite") as connection:
        connection.row_factory = sqlite3.Row
        return [dict(r) for r in connection.execute("SELECT * FROM audit_log ORDER BY id")]


def _thread(recorder: SlackRecorder, ts: str) -> list[str]:
    return [json.dumps(r.body, ensure_ascii=False) for r in recorder.calls("chat.postMessage")
            if r.body.get("thread_ts") == ts and r.body.get("channel") == "C123"]


def _click(bot: Serve, recorder: SlackRecorder, plan_id: str, name: str, ts: str) -> None:
    body = block_action_body(action_id="rollback.confirm", value=plan_id, user_id=RESPONDER,
                             response_url=recorder.response_url(name), message_ts=ts)
    assert bot.send(body) == 200


def _kill_while_following(api: KubeApiServer, tmp_path: Path, recorder: SlackRecorder) -> tuple[str, str]:
    """Start `bizra serve`, confirm a rollback, and kill -9 it while it follows the (held) rollout."""
    config = _config(api, tmp_path)
    with serve(config, recorder, tmp_path, "first") as first:
        body = slash_command_body("rollback p99 breach", response_url=recorder.response_url("cmd"),
                                  user_id=RESPONDER, channel_id="C123")
        assert first.send(body) == 200
        recorder.wait_for(lambda rs: any(r.path == "/response/cmd" for r in rs), timeout=20, what="the confirmation")
        plan_id = button_value(posted_confirmation(recorder, recorder.responses("cmd")[0]), "rollback.confirm")
        ts = confirmation(recorder, plan_id).ts
        _click(first, recorder, plan_id, "click", ts)
        wait_until(lambda: image_patches(api), timeout=20, what="the image patch")
        wait_until(lambda: any("Following the rollout" in t for t in _thread(recorder, ts)), timeout=20,
                   what="the rollback's start in its thread")
        polls = len(api.calls("GET", "/deployments/node0"))
        wait_until(lambda: len(api.calls("GET", "/deployments/node0")) > polls + 2, timeout=20,
                   what="the bot following the rollout")
        first.process.kill()  # SIGKILL: no clean-up of any kind
        first.process.wait(timeout=10)
    assert _row(tmp_path, plan_id)["state"] == "running"
    return plan_id, ts


def test_a_rollback_whose_executor_was_killed_is_finished_by_the_next_process(
        api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed_deployment(api, annotations={ANNOTATION: GOOD})
    plan_id, ts = _kill_while_following(api, tmp_path, slack_recorder)
    with serve(_config(api, tmp_path), slack_recorder, tmp_path, "second") as second:
        wait_until(lambda: any("resumed after the original executor was lost" in t.lower() for t in
                               _thread(slack_recorder, ts)), timeout=30, what="the take-over said in the thread")
        assert _row(tmp_path, plan_id)["state"] == "running"
        with controller(api) as ctl:  # only now does the rollout finish: the second process follows it
            ctl.join()
            wait_until(lambda: _row(tmp_path, plan_id)["state"] == "finished", timeout=30,
                       what="the confirmation finished")
        summary = next(t for t in reversed(_thread(slack_recorder, ts)) if "Incident bundle" in t)
        assert "Rollback complete: the rollout is healthy" in summary and "Resumed by" in summary
        _click(second, slack_recorder, plan_id, "late", ts)
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/late" for r in rs), timeout=20,
                                what="the answer to a late click")
    assert "was already executed" in slack_recorder.responses("late")[0].body["text"]
    assert _row(tmp_path, plan_id)["outcome"] == "recovered"
    assert len(image_patches(api)) == 1, "the change was applied once, by the first process"

    final = [e for e in _audit(tmp_path) if e["action"] == "rollback"]
    assert len(final) == 1
    assert (final[0]["actor"], final[0]["outcome"], final[0]["before"], final[0]["after"]) == (
        RESPONDER, "ok", BAD, GOOD)
    assert "after the original executor" in final[0]["detail"]

    [bundle] = list((tmp_path / "incidents").iterdir())
    before = json.loads((bundle / "deployment-before.json").read_text())
    assert before["spec"]["template"]["spec"]["containers"][0]["image"] == BAD, "the first process's snapshot"
    after = json.loads((bundle / "deployment-after.json").read_text())
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == GOOD
    assert "Resumed by" in (bundle / "summary.md").read_text()

    with sqlite3.connect(tmp_path / "state.sqlite") as connection:
        [(image, source)] = connection.execute("SELECT image, source FROM release_history").fetchall()
    assert (image, source) == (GOOD, f"rollback {plan_id}")
    assert (api.get("apps", "deployments", NS, "node0") or {})["metadata"]["annotations"][ANNOTATION] == GOOD


def test_a_killed_rollback_that_cannot_be_followed_is_marked_interrupted(
        api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    seed_deployment(api, annotations={ANNOTATION: GOOD})
    plan_id, ts = _kill_while_following(api, tmp_path, slack_recorder)
    api.stop()  # the API server is gone too: the rollout cannot be followed
    with serve(_config(api, tmp_path), slack_recorder, tmp_path, "second") as second:
        wait_until(lambda: _row(tmp_path, plan_id)["state"] == "interrupted", timeout=30,
                   what="the confirmation marked interrupted")
        wait_until(lambda: any("interrupted" in t for t in _thread(slack_recorder, ts)), timeout=20,
                   what="the interruption said in the thread")
        _click(second, slack_recorder, plan_id, "late", ts)
        slack_recorder.wait_for(lambda rs: any(r.path == "/response/late" for r in rs), timeout=20,
                                what="the answer to a late click")
    said = next(t for t in _thread(slack_recorder, ts) if "interrupted" in t)
    assert "could not be read" in said and "was lost" in said
    assert any("resumed after the original executor was lost" in t.lower() for t in _thread(slack_recorder, ts))
    assert "was interrupted" in slack_recorder.responses("late")[0].body["text"]
    [entry] = [e for e in _audit(tmp_path) if e["action"] == "rollback"]
    assert (entry["actor"], entry["outcome"]) == (RESPONDER, "interrupted")
    assert "could not follow the rollout" in entry["detail"]



def _stuck_row(tmp_path: Path, plan_id: str) -> None:
    """A confirmation left `running` an hour ago by an executor that died before patching (written as an operator
    with sqlite3 would, once `bizra serve` has created the table)."""
    from datetime import UTC, datetime, timedelta

    from commands.rollback import RollbackPlan

    at = datetime.now(UTC) - timedelta(hours=1)
    plan = RollbackPlan(id=plan_id, namespace=NS, deployment="node0", container="node0", current_image=BAD,
                        target_image=GOOD, source="deployment annotation", source_detail="test", reason="stuck",
                        requested_by=RESPONDER, channel="C123", requested_at=at, expires_at=at + timedelta(minutes=10))
    with sqlite3.connect(tmp_path / "state.sqlite") as connection:
        connection.execute(
            "INSERT INTO rollback_confirmation (id, plan, state, created_at, expires_at, decided_by, decided_at, "
            "surface, channel, message_ts, thread_ts, owner, claim_no, heartbeat_at) "
            "VALUES (?, ?, 'running', ?, ?, ?, ?, 'slack', 'C123', ?, ?, 'gone:1:dead', 1, ?)",
            (plan_id, plan.model_dump_json(), at.isoformat(), plan.expires_at.isoformat(), RESPONDER,
             at.isoformat(), MESSAGE_TS, MESSAGE_TS, at.isoformat()))
    connection.close()


def _has_table(tmp_path: Path) -> bool:
    with sqlite3.connect(tmp_path / "state.sqlite") as connection:
        found = connection.execute("SELECT name FROM pragma_table_info('rollback_confirmation') "
                                   "WHERE name = 'heartbeat_at'").fetchall()
    connection.close()
    return bool(found)


def test_recovery_writes_survive_health_probes_and_another_process_using_the_store(
        api: KubeApiServer, tmp_path: Path, slack_recorder: SlackRecorder) -> None:
    """/healthz reads the store file's header. Closing that descriptor dropped every POSIX lock the process
    held on the file, SQLite's included; the next process to close a connection (a replica, `sqlite3`)
    then checkpointed and deleted the WAL under the long-lived connection of the recovery job, whose
    take-over, audit row and `interrupted` state were written into a deleted file and lost."""
    seed_deployment(api, annotations={ANNOTATION: GOOD})
    with serve(_config(api, tmp_path), slack_recorder, tmp_path, "probed"):
        wait_until(lambda: _has_table(tmp_path), timeout=20, what="the recovery job's first run")
        # (serve() polled /healthz until it answered, as the kubelet does.)
        _stuck_row(tmp_path, "stuck01")
        wait_until(lambda: _row(tmp_path, "stuck01").get("state") == "interrupted", timeout=20,
                   what="the stuck rollback marked interrupted, in the store")
        wait_until(lambda: any("interrupted" in t for t in _thread(slack_recorder, MESSAGE_TS)), timeout=20,
                   what="the interruption said in the thread")
    [entry] = [e for e in _audit(tmp_path) if e["action"] == "rollback"]
    assert entry["outcome"] == "interrupted" and "never reached the cluster" in entry["detail"]
    assert image_patches(api) == []
