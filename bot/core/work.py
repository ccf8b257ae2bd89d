"""Where slow work runs, so that Slack's 3-second acks never wait behind it.

Three bounded places, built once per runtime by the composition root:
- `slow`: handler work after the ack (cluster calls, Prometheus queries, posting answers) — a
  thread pool with a queue limit; when it is full, `submit` raises `Busy` and the ack says so.
- `long`: work that may take minutes (a rollback following its rollout) — its own small pool, so it
  never holds a request worker or the `slow` pool's workers.
- `cpu`: CPU-bound work (drawing charts) in a pool of spawned processes, so it never holds the
  serving process's GIL while acks are answered. Without processes (the console, the CLI) it runs
  inline.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Literal, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
Lane = Literal["slow", "long"]


class Busy(Exception):
    """Every worker of the lane is taken and its queue is full: the user is told to try again."""


class _BoundedPool:
    def __init__(self, name: str, *, workers: int, queue: int) -> None:
        self.name = name
        self.limit = workers + queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"bizra-{name}")
        self._lock = threading.Lock()
        self._in_flight = 0

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        with self._lock:
            if self._in_flight >= self.limit:
                raise Busy(self.name)
            self._in_flight += 1
        try:
            future = self._pool.submit(fn)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(lambda _: self._release())
        return future

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def shutdown(self, *, wait: bool) -> None:
        self._pool.shutdown(wait=wait)


def _warm() -> int:
    return 0


def _exit_with_parent() -> None:
    """In each worker process: exit as soon as the serving process is gone (even SIGKILLed), so no
    chart worker outlives the bot."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="bizra-parent-watch", daemon=True).start()


class Work:
    """The runtime's executors (`runtime.work`); see the module docstring."""

    def __init__(self, *, slow_workers: int = 8, slow_queue: int = 256, long_workers: int = 4, long_queue: int = 4,
                 cpu_processes: int = 0, cpu_timeout: float = 60.0) -> None:
        self._lanes: dict[str, _BoundedPool] = {
            "slow": _BoundedPool("slow", workers=slow_workers, queue=slow_queue),
            "long": _BoundedPool("long", workers=long_workers, queue=long_queue),
        }
        self._cpu: ProcessPoolExecutor | None = None
        if cpu_processes > 0:
            # spawn, not fork: a forked child would inherit the serving process's threads and locks.
            self._cpu = ProcessPoolExecutor(max_workers=cpu_processes, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_exit_with_parent)
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

    def idle(self) -> bool:
        return all(pool.in_flight == 0 for pool in self._lanes.values())

    def shutdown(self, *, wait: bool = True) -> None:
        """Finish the work already accepted (wait=True), then stop the pools."""
        for pool in self._lanes.values():
            pool.shutdown(wait=wait)
        if self._cpu is not None:
            self._cpu.shutdown(wait=wait, cancel_futures=not wait)
