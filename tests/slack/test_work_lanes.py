"""The work lanes behind the acks (bot/core/work.py): acks come first, and a lane says "busy" only when it
is not keeping up — never because a burst queued many quick jobs at once."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from bot.core.config import BizraConfig
from bot.core.invocation import Invocation, Reply
from bot.core.runtime import Runtime, Subcommand
from bot.core.work import Busy, Work
from tests.support.bot import running_bot
from tests.support.polling import wait_until
from tests.support.slack import SlackRecorder


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_job_waits_for_the_requests_being_answered_then_runs() -> None:
    work = Work(slow_workers=2, defer_at_most=60)
    ran = threading.Event()
    try:
        with work.foreground.serving():
            work.submit(ran.set)
            wait_until(lambda: work.deferring() == 1, what="the job waiting for the request being answered")
            assert not ran.is_set()
        wait_until(ran.is_set, what="the job, once no request is being answered")
    finally:
        work.shutdown()


def test_a_steady_stream_of_requests_delays_a_job_only_for_a_while() -> None:
    work = Work(slow_workers=1, defer_at_most=0.05)
    ran = threading.Event()
    try:
        with work.foreground.serving():  # never idle while the job is pending
            work.submit(ran.set)
            wait_until(ran.is_set, what="the job, after its deferral ran out")
    finally:
        work.shutdown()


def test_many_quick_jobs_queue_without_busy_but_a_lane_that_stopped_moving_is_busy() -> None:
    clock = _Clock()
    hold = threading.Event()
    work = Work(slow_workers=1, slow_queue=2048, max_queue_wait=30, clock=clock)
    try:
        work.submit(lambda: hold.wait(30))  # a hung dependency holds the only worker
        for _ in range(500):  # a burst's worth of commands: queued, none refused
            work.submit(lambda: None)
        clock.now += 29
        work.submit(lambda: None)  # the oldest has waited 29 s: still accepted
        clock.now += 1
        try:
            work.submit(lambda: None)
        except Busy:
            pass
        else:
            raise AssertionError("a lane whose oldest job waited 30 s must refuse new work")
        hold.set()
        wait_until(work.idle, what="the queued jobs to run once the worker is free")
        work.submit(lambda: None)  # moving again: accepted
    finally:
        hold.set()
        work.shutdown()


def test_a_burst_of_slash_commands_is_answered_not_refused(slack_recorder: SlackRecorder, tmp_path: Path) -> None:
    """More commands at once than the lane has workers plus its old 256-job queue: every one is run."""
    done: list[str] = []
    lock = threading.Lock()

    def quick(invocation: Invocation, runtime: Runtime) -> Reply:
        with lock:
            done.append(invocation.text)
        return Reply(result="done")

    config = BizraConfig.model_validate({"store": {"path": str(tmp_path / "state.sqlite")}, "slo": {"enabled": False}})
    with running_bot(slack_recorder, config=config) as bot:
        bot.runtime.registry.add_subcommand(Subcommand(name="quick", usage="quick", summary="test", handler=quick))
        hold = threading.Event()
        bot.runtime.work.set(Work(slow_workers=1))
        bot.runtime.work.get().submit(lambda: hold.wait(30))  # the lane's one worker is busy meanwhile
        try:
            for n in range(300):
                status, body = bot.command(f"quick {n}", name=f"q{n}")
                assert status == 200 and "busy" not in json.loads(body).get("text", ""), body
        finally:
            hold.set()
        wait_until(lambda: len(done) == 300, timeout=60, what="all 300 commands run")
        bot.runtime.work.get().shutdown()
