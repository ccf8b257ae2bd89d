"""Issue 9: Socket Mode with several replicas — each keeps its own connection; Slack delivers an event to
one of them; what that one did is there for the others (nothing lives only in one process's memory).

Two real `bizra serve` processes in Socket Mode, each with its own WebSocket connection to the Socket
Mode server (tests/support/socket_mode.py, told which replica holds which connection). A rollback is
requested on one replica's connection; its Confirm click is delivered on the other's, which finds the
confirmation in the shared store and runs it: one image patch, one audit row.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.replicas.conftest import MakeReplicas
from tests.rollback.conftest import button_value, controller, image_patches, posted_confirmation
from tests.support.polling import wait_until
from tests.support.replicas import NS, RESPONDER, STABLE, ReplicaSocketMode
from tests.support.slack import SlackRecorder

OPS_CHANNEL = "C_OPS"



@pytest.fixture
def socket_mode(slack_recorder: SlackRecorder) -> Iterator[ReplicaSocketMode]:
    server = ReplicaSocketMode(slack_recorder)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.problems, f"Slack would have refused: {server.problems}"


def test_a_confirmation_made_on_one_replica_is_confirmed_on_the_other(make_replicas: MakeReplicas,
                                                                      socket_mode: ReplicaSocketMode) -> None:
    replicas = make_replicas(socket_mode=socket_mode)
    first, second = replicas.start(["bizra-0", "bizra-1"])
    assert socket_mode.connected_replicas() == ["bizra-0", "bizra-1"], "each replica keeps its own connection"
    recorder = replicas.recorder

    asked = socket_mode.push_slash_command_to(first.name, "rollback p99 latency breach",
                                              response_url=recorder.response_url("ask"), user_id=RESPONDER)
    socket_mode.ack_for(asked, timeout=15)
    recorder.wait_for(lambda _: recorder.responses("ask"), timeout=20, what="the confirmation")
    posted = posted_confirmation(recorder, recorder.responses("ask")[0], channel=OPS_CHANNEL)
    plan_id = button_value(posted, "rollback.confirm")

    with controller(replicas.api, image=STABLE) as ctl:
        clicked = socket_mode.push_click_to(second.name, action_id="rollback.confirm", value=plan_id,
                                            user_id=RESPONDER, response_url=recorder.response_url("click"),
                                            message_ts=posted.ts)
        socket_mode.ack_for(clicked, timeout=15)
        ctl.join()
        wait_until(lambda: replicas.store.rows("SELECT id FROM audit_log WHERE action = 'rollback'"), timeout=30,
                   what=f"the rollback's audit row\n{replicas.logs()}")

    assert len(image_patches(replicas.api)) == 1
    [executed] = replicas.store.rows("SELECT actor, outcome FROM audit_log WHERE action = 'rollback'")
    assert (executed["actor"], executed["outcome"]) == (RESPONDER, "ok")
    wait_until(lambda: replicas.store.rows("SELECT id FROM rollback_confirmation WHERE id = ? AND state = 'finished'",
                                           plan_id), timeout=20, what="the confirmation finished")
    # Each event was handled by the replica it was delivered to (each audit line is in that one's log).
    requested, executed_line = "audit rollback.request ", f"audit rollback {NS}/node0 by {RESPONDER}"
    assert requested in first.output() and requested not in second.output()
    assert executed_line in second.output() and executed_line not in first.output()
