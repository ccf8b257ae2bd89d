"""Issue 9: state-changing clicks and commands delivered to two replicas at the same moment run once.

Two real `bizra serve` processes of three on one store; the Kubernetes API emulator counts what reached
the cluster. A rollback: one confirmation, its Confirm button clicked twice (two deliveries, as a double
click or two people would send them) to two replicas at once → one image patch, one audit row for the
execution. A canary: two `/bizra canary promote --force` to two replicas at once → one stage advance
(one stage apply, one audit row, one line in the run's thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from tests.replicas.conftest import NAMES, MakeReplicas
from tests.rollback.conftest import button_value, controller, image_patches, posted_confirmation
from tests.support.polling import wait_until
from tests.support.replicas import CANDIDATE, MANAGER, RELEASE_CHANNEL, RESPONDER, STABLE, Replica, ReplicaSet

OPS_CHANNEL = "C_OPS"
PROMOTED = ":arrow_forward: Canary promoted to stage 2/3"


def _at_once(*deliveries: Callable[[], tuple[int, str]]) -> list[int]:
    """Run the deliveries on their own threads, released together; their HTTP statuses."""
    start = threading.Barrier(len(deliveries))
    statuses: list[int] = []

    def deliver(send: Callable[[], tuple[int, str]]) -> None:
        start.wait(10)
        statuses.append(send()[0])

    threads = [threading.Thread(target=deliver, args=(send,)) for send in deliveries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return statuses


def _text(replicas: ReplicaSet, name: str) -> str:
    [answer] = replicas.recorder.responses(name)
    blocks = answer.body.get("blocks") or []
    return str(answer.body.get("text", "")) + "\n" + "\n".join(str(b.get("text", {}).get("text", "")) for b in blocks)


def _two_followers(replicas: ReplicaSet) -> tuple[Replica, Replica]:
    leader = replicas.wait_leader()
    first, second = (r for r in replicas.alive() if r is not leader)
    return first, second


def test_two_confirm_clicks_on_two_replicas_patch_the_image_once(make_replicas: MakeReplicas) -> None:
    replicas = make_replicas()
    replicas.start(NAMES)
    first, second = _two_followers(replicas)  # neither runs background jobs: only the click can act
    recorder = replicas.recorder
    status, _ = first.command(recorder, "rollback p99 latency breach", name="ask", user_id=RESPONDER,
                              channel_id=OPS_CHANNEL)
    assert status == 200
    recorder.wait_for(lambda _: recorder.responses("ask"), timeout=20, what="the confirmation")
    posted = posted_confirmation(recorder, recorder.responses("ask")[0], channel=OPS_CHANNEL)
    plan_id = button_value(posted, "rollback.confirm")

    with controller(replicas.api, image=STABLE) as ctl:
        click = {"action_id": "rollback.confirm", "value": plan_id, "user_id": RESPONDER, "message_ts": posted.ts,
                 "channel_id": OPS_CHANNEL}
        statuses = _at_once(partial(first.click, recorder, name="click-a", **click),
                            partial(second.click, recorder, name="click-b", **click))
        assert statuses == [200, 200]
        ctl.join()
        recorder.wait_for(lambda _: recorder.responses("click-a") and recorder.responses("click-b"), timeout=20,
                          what="an answer to each click")
        wait_until(lambda: replicas.store.rows("SELECT id FROM audit_log WHERE action = 'rollback'"), timeout=30,
                   what=f"the rollback's audit row\n{replicas.logs()}")

    assert len(image_patches(replicas.api)) == 1, "the image was patched more than once"
    executed = replicas.store.rows("SELECT actor, outcome, before, after FROM audit_log WHERE action = 'rollback'")
    assert len(executed) == 1 and executed[0]["actor"] == RESPONDER and executed[0]["outcome"] == "ok", executed
    answers = [_text(replicas, "click-a"), _text(replicas, "click-b")]
    assert sum("Nothing more was done" in a for a in answers) == 1, answers
    [row] = replicas.store.rows("SELECT state FROM rollback_confirmation WHERE id = ?", plan_id)
    assert row["state"] in ("running", "finished"), row


def test_two_promotes_on_two_replicas_advance_one_stage(make_replicas: MakeReplicas) -> None:
    replicas = make_replicas()
    replicas.start(NAMES)
    first, second = _two_followers(replicas)
    recorder = replicas.recorder
    status, _ = first.command(recorder, f"canary start {CANDIDATE}", name="start", user_id=MANAGER)
    assert status == 200
    recorder.wait_for(lambda _: recorder.responses("start"), timeout=30, what="the canary start")
    assert "Canary started: stage 1/3" in _text(replicas, "start"), _text(replicas, "start")
    applies_before = len(_stage_applies(replicas))

    promote = 'canary promote --force "hotfix window"'
    statuses = _at_once(partial(first.command, recorder, promote, name="promote-a", user_id=MANAGER),
                        partial(second.command, recorder, promote, name="promote-b", user_id=MANAGER))
    assert statuses == [200, 200]
    recorder.wait_for(lambda _: recorder.responses("promote-a") and recorder.responses("promote-b"), timeout=30,
                      what="an answer to each promote")

    answers = [_text(replicas, "promote-a"), _text(replicas, "promote-b")]
    assert sum("promoted to stage 2/3" in a for a in answers) == 1, answers
    assert sum("was not run" in a for a in answers) == 1, answers
    assert [_weight(r) for r in _stage_applies(replicas)[applies_before:]] == [50], "one stage-2 apply"
    [active] = replicas.store.rows("SELECT stage FROM canary_active")
    assert active["stage"] == 1, active  # stage 2 of 3, counted from 0
    promoted = replicas.store.rows("SELECT actor, detail FROM audit_log WHERE action LIKE 'canary.promote%' "
                                   "AND outcome = 'ok'")
    assert len(promoted) == 1 and "forced: hotfix window" in promoted[0]["detail"], promoted
    # The run's thread says it once (whoever sends the run's messages).
    wait_until(lambda: _thread_lines(replicas, PROMOTED), timeout=20, what="the promotion in the run's thread")
    assert len(_thread_lines(replicas, PROMOTED)) == 1, _thread_lines(replicas, PROMOTED)


def _stage_applies(replicas: ReplicaSet) -> list[Any]:
    """Server-side applies of the canary's HTTPRoute (one per stage the bot applied)."""
    return [r for r in replicas.api.requests if r.method == "PATCH" and r.query.get("fieldManager") == "bizra-bot"
            and isinstance(r.body, dict) and r.body.get("kind") == "HTTPRoute"]


def _weight(request: Any) -> int:
    body = request.body
    return int(next(ref["weight"] for ref in body["spec"]["rules"][0]["backendRefs"] if ref["name"] == "node0-canary"))


def _thread_lines(replicas: ReplicaSet, mark: str) -> list[str]:
    return [str(r.body.get("text", "")) for r in replicas.recorder.calls("chat.postMessage")
            if r.body.get("channel") == RELEASE_CHANNEL and r.body.get("thread_ts")
            and mark in str(r.body.get("text", ""))]
