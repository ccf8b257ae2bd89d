"""The replay guard commits concurrent requests together (group commit) and still lets each signed body
run exactly once: within one batch, across batches and across replicas, on both store backends."""

from __future__ import annotations

import threading

from bot.assembly import build_runtime
from bot.core.config import BizraConfig, Secrets
from bot.core.runtime import Runtime
from bot.surfaces.slack_app import ReplayGuard

BODIES = 12
SENDS_PER_REPLICA = 3  # the same body sent at once by several threads of each replica: retries, replays


def _replicas(section: dict[str, str], count: int) -> list[Runtime]:
    config = BizraConfig.model_validate({"store": section, "slo": {"enabled": False}})
    return [build_runtime(config, Secrets(), surface="slack") for _ in range(count)]


def test_concurrent_copies_of_each_body_run_once_across_replicas(store_section: dict[str, str]) -> None:
    replicas = _replicas(store_section, 2)
    guards = [ReplayGuard(runtime) for runtime in replicas]
    sends = [(guard, f"token=x&command=/bizra&text=gates&trigger_id={n}")
             for n in range(BODIES) for guard in guards for _ in range(SENDS_PER_REPLICA)]
    barrier = threading.Barrier(len(sends))
    answers: list[tuple[str, bool | Exception]] = []
    answers_lock = threading.Lock()

    def send(guard: ReplayGuard, body: str) -> None:
        barrier.wait()
        try:
            answer: bool | Exception = guard.seen(body=body, signature="v0=sig")
        except Exception as exc:  # shown by the assertion below
            answer = exc
        with answers_lock:
            answers.append((body, answer))

    threads = [threading.Thread(target=send, args=sent) for sent in sends]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)

    assert len(answers) == len(sends)
    assert not [answer for _, answer in answers if isinstance(answer, Exception)], answers
    for n in range(BODIES):
        body = f"token=x&command=/bizra&text=gates&trigger_id={n}"
        firsts = [answer for sent, answer in answers if sent == body and answer is False]
        assert len(firsts) == 1, (body, [answer for sent, answer in answers if sent == body])

    # Each answer came after its row was committed: a replica started afterwards refuses every body.
    late = ReplayGuard(_replicas(store_section, 1)[0])
    assert all(late.seen(body=f"token=x&command=/bizra&text=gates&trigger_id={n}", signature="v0=sig")
               for n in range(BODIES))


def test_a_body_is_new_again_only_after_the_replay_window(store_section: dict[str, str]) -> None:
    guard = ReplayGuard(_replicas(store_section, 1)[0])
    assert guard.seen(body="a", signature="v0=a", now=1_000_000.0) is False
    assert guard.seen(body="a", signature="v0=a", now=1_000_100.0) is True  # within the window: a replay
    # Bolt refuses a signature older than 5 minutes; the guard forgets bodies older than its 6-minute window.
    assert guard.seen(body="a", signature="v0=a", now=1_000_000.0 + 7 * 60) is False
