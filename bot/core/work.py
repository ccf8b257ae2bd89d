"""Where slow work runs, so that Slack's 3-second acks never wait behind it.

Three bounded places, built once per runtime by the composition root:
- `slow`: handler work after the ack (cluster calls, Prometheus queries, posting answers) — a
  thread pool with a queue limit; when it is full, `submit` raises `Busy` and the ack says so.
- `long`: work that may take minutes (a rollback following its rollout) — its own small pool, so it
  never holds a request worker or the `slow` pool's workers.
- `cpu`: CPU-bound work (drawing charts) in a pool of spawned processes at a lower CPU priority, so
  it never holds the serving process's GIL (or its core) while acks are answered. Without processes
  (the console, the CLI) it runs inline.

Acks come first. The two thread lanes share the serving process's interpreter lock with the threads
answering Slack, so a lane starts its next job only when no request is being answered
(`Work.foreground`, marked by the HTTP surface), or after `defer_at_most` seconds: a burst of
commands is acked before the work it queued competes with it, and under a steady stream of requests
every lane still starts a job at least that often.

When is a lane full? A burst must never be refused while the lane keeps up: a job queued behind a
burst waits for the burst's acks, then for the jobs ahead of it — milliseconds each for most
commands. So a lane answers `Busy` when its oldest queued job has waited `max_queue_wait` seconds
without starting (it is not keeping up: a hung dependency holds every worker), or when
`workers + queue` jobs are in it (a bound on memory, not on how busy it is).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
Lane = Literal["slow", "long"]

# A lane's worker waits at most this long for the requests being answered before it starts a job: a
# burst of 200 commands takes a few hundred ms to ack on a small node, work after an ack may take its
# time (a response_url answers for 30 minutes), and Slack's deadline for the ack is 3 s.
DEFER_AT_MOST_SECONDS = 2.0
# A lane whose oldest queued job has waited this long is not keeping up: new work is refused (Busy).
MAX_QUEUE_WAIT_SECONDS = 30.0
CPU_NICENESS = 10  # added to the chart process's niceness (lower CPU priority than the serving process)


class Busy(Exception):
    """The lane is not keeping up (its oldest queued job has waited too long) or holds as many jobs as it
    may: nothing was queued, and the user is told to try again."""


class Foreground:
    """How many requests are being answered right now; the lanes defer starting work while any is."""

    def __init__(self) -> None:
        self._serving = 0
        self._changed = threading.Condition()

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Around answering one request (the HTTP surface wraps each Slack request in it)."""
        with self._changed:
            self._serving += 1
        try:
            yield
        finally:
            with self._changed:
                self._serving -= 1
                if self._serving == 0:
                    self._changed.notify_all()

    def wait_until_idle(self, timeout: float) -> bool:
        """Wait (at most `timeout` s) until no request is being answered; False when one still is."""
        with self._changed:
            return self._changed.wait_for(lambda: self._serving == 0, timeout)


@dataclass(frozen=True)
class _LaneRules:
    foreground: Foreground
    defer_at_most: float
    max_queue_wait: float
    clock: Callable[[], float]


class _BoundedPool:
    def __init__(self, name: str, *, workers: int, queue: int, rules: _LaneRules) -> None:
        self.name = name
        self.limit = workers + queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"bizra-{name}")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiting: dict[int, float] = {}  # job number -> when it was queued, oldest first, until it starts
        self._numbers = itertools.count()
        self._rules = rules
        self.deferring = 0  # jobs whose worker is waiting for the requests being answered

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        with self._lock:
            now = self._rules.clock()
            oldest = next(iter(self._waiting.values()), now)
            if self._in_flight >= self.limit or now - oldest >= self._rules.max_queue_wait:
                raise Busy(self.name)
            self._in_flight += 1
            number = next(self._numbers)
            self._waiting[number] = now
        try:
            future = self._pool.submit(self._run, number, fn)
        except BaseException:
            self._release(number)
            raise
        future.add_done_callback(lambda _: self._release(number))
        return future

    def _run(self, number: int, fn: Callable[[], T]) -> T:
        with self._lock:
            self.deferring += 1
        try:
            self._rules.foreground.wait_until_idle(self._rules.defer_at_most)
        finally:
            with self._lock:
                self.deferring -= 1
                self._waiting.pop(number, None)
        return fn()

    def _release(self, number: int) -> None:
        with self._lock:
            self._in_flight -= 1
            self._waiting.pop(number, None)  # cancelled before it started

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def shutdown(self, *, wait: bool) -> None:
        self._pool.shutdown(wait=wait)


def _warm() -> int:
    return 0


def _start_worker_process() -> None:
    """In each worker process: a lower CPU priority than the serving process (on a small node a chart
    must not take the core an ack needs), and exit as soon as the serving process is gone (even
    SIGKILLed), so no chart worker outlives the bot."""
    with contextlib.suppress(OSError):
        os.nice(CPU_NICENESS)
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="bizra-parent-watch", daemon=True).start()


class Work:
    """The runtime's executors (`runtime.work`); see the module docstring."""

    def __init__(self, *, slow_workers: int = 8, slow_queue: int = 2048, long_workers: int = 4, long_queue: int = 4,
                 cpu_processes: int = 0, cpu_timeout: float = 60.0, defer_at_most: float = DEFER_AT_MOST_SECONDS,
                 max_queue_wait: float = MAX_QUEUE_WAIT_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.foreground = Foreground()
        rules = _LaneRules(self.foreground, defer_at_most=defer_at_most, max_queue_wait=max_queue_wait, clock=clock)
        self._lanes: dict[str, _BoundedPool] = {
            "slow": _BoundedPool("slow", workers=slow_workers, queue=slow_queue, rules=rules),
            "long": _BoundedPool("long", workers=long_workers, queue=long_queue, rules=rules),
        }
        self._cpu: ProcessPoolExecutor | None = None
        if cpu_processes > 0:
            # spawn, not fork: a forked child would inherit the serving process's threads and locks.
            self._cpu = ProcessPoolExecutor(max_workers=cpu_processes, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_start_worker_process)
        self._cpu_timeout = cpu_timeout

    def submit(self, fn: Callable[[], T], *, lane: Lane = "slow") -> Future[T]:
        """Run `fn` on the lane's pool; raises `Busy` when the lane is full (nothing was queued)."""
        return self._lanes[lane].submit(fn)

    def cpu(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a picklable, module-level `fn` in a worker process and wait for its result."""
        if self._cpu is None:
            return fn(*args, **kwargs)
        return self._cpu.submit(fn, *args, **kwargs).result(timeout=self._cpu_timeout)

    def warm_up(self) -> None:
        """Start the worker process now, so the first chart does not pay for the spawn."""
        if self._cpu is not None:
            self._cpu.submit(_warm)

    def deferring(self, lane: Lane = "slow") -> int:
        """Jobs of the lane whose worker is waiting for the requests being answered to end."""
        return self._lanes[lane].deferring

    def idle(self) -> bool:
        return all(pool.in_flight == 0 for pool in self._lanes.values())

    def shutdown(self, *, wait: bool = True) -> None:
        """Finish the work already accepted (wait=True), then stop the pools."""
        for pool in self._lanes.values():
            pool.shutdown(wait=wait)
        if self._cpu is not None:
            self._cpu.shutdown(wait=wait, cancel_futures=not wait)
