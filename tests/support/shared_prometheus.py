"""One real Prometheus for the whole test run; tests are isolated by data (a scrape job each), not by process.

Starting Prometheus costs ~5 s before its first scrape, so the run starts one (`SharedPrometheus`),
as soon as collection shows a test needs it, and every test that reads NODE0 metrics gets a slot:
its own synthetic NODE0 (`tests/support/node0_exporter.py`) scraped as its own job
`node0-slot-NN`. A test changes its slot's behaviour freely; its queries select `job="node0-slot-NN"`
(`slot.scoped(...)`, `slot.catalog()`), so no other test sees the change and no test waits for a
previous one's breach to leave the rate window. The pool has one slot per collected test that asks
for one, and every slot is scraped from the start, so a slot has data by the time its test runs.

Jobs on the shared Prometheus:
  node0            one NODE0 whose behaviour no test changes (`/bizra verify` reads its target)
  node0-down       a target on a port that refuses connections (a scrape that fails)
  node0-slot-NN    one per test that asks for `node0_slot`

A test that needs a Prometheus in a special state (stopped mid-test) gets one of its own
(`PrivatePrometheus`, scraping only its own NODE0 as job node0), launched with the shared one so
that its start-up too runs while earlier tests do.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field

from commands.slo import Comparator, SloDefinition, default_catalog
from tests.support.node0_exporter import Node0Exporter, node0_exporters
from tests.support.prometheus import PrometheusServer, launch_prometheus, poll, start_prometheus, wait_until_ready

DOWN_JOB = "node0-down"
_METRIC = re.compile(r"\b(node0_[a-zA-Z0-9_]*)(\{)?")
_QUERY_FIELDS = ("query", "good", "total")


def scoped(promql: str, selector: str) -> str:
    """`promql` with the label matcher `selector` (e.g. `job="node0-slot-03"`) added to every NODE0 metric."""
    def add(match: re.Match[str]) -> str:
        return f"{match.group(1)}{{{selector}," if match.group(2) else f"{match.group(1)}{{{selector}}}"

    result = _METRIC.sub(add, promql)
    assert result != promql, f"no NODE0 metric to scope in {promql!r}"
    return result


@dataclass
class Slot:
    """A test's own NODE0 on the shared Prometheus: change `exporter` freely, query through `scoped`."""

    prom: PrometheusServer
    exporter: Node0Exporter
    job: str

    @property
    def selector(self) -> str:
        return f'job="{self.job}"'

    def scoped(self, promql: str) -> str:
        return scoped(promql, self.selector)

    def catalog(self, slos: list[SloDefinition] | None = None) -> list[SloDefinition]:
        """The SLO catalog (default: the shipped one) with every query reading this slot's series only."""
        return [slo.model_copy(update={name: self.scoped(getattr(slo, name)) for name in _QUERY_FIELDS
                                       if getattr(slo, name) is not None})
                for slo in (default_catalog() if slos is None else slos)]


@dataclass
class PrivatePrometheus:
    """A Prometheus a test may stop or break: it scrapes only `exporter`, as job node0."""

    prom: PrometheusServer
    exporter: Node0Exporter


def _healthy(slo: SloDefinition, value: float | None) -> bool:
    if value is None:
        return False
    return value <= slo.objective if slo.comparator is Comparator.LE else value >= slo.objective


@dataclass
class SharedPrometheus:
    """The run's Prometheus, its NODE0s (one HTTP server, a path each) and the private Prometheus servers."""

    prom: PrometheusServer
    node0: Node0Exporter  # job "node0", never changed by a test
    slots: list[Slot]
    private: list[PrivatePrometheus]
    _stack: ExitStack
    _claimed: int = 0
    _claimed_private: int = 0
    _ready: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def launch(cls, slots: int, private: int = 0) -> SharedPrometheus:
        """Exporters and the Prometheus processes, without waiting for them (see `ready`)."""
        stack = ExitStack()
        try:
            names = ["node0", *(f"node0-slot-{n:02d}" for n in range(1, slots + 1))]
            private_names = [f"node0-private-{n:02d}" for n in range(1, private + 1)]
            exporters = stack.enter_context(node0_exporters([*names, *private_names]))
            private_exporters, exporters = exporters[len(names):], exporters[:len(names)]
            refusing = socket.socket()  # bound, never listening: connections to it are refused
            refusing.bind(("127.0.0.1", 0))
            stack.callback(refusing.close)
            refused = f"127.0.0.1:{refusing.getsockname()[1]}"
            jobs = [{"job_name": DOWN_JOB, "static_configs": [{"targets": [refused]}]}]
            jobs += [{"job_name": name, "metrics_path": exporter.path,
                      "static_configs": [{"targets": [exporter.target]}]}
                     for name, exporter in zip(names[1:], exporters[1:], strict=True)]
            node0 = exporters[0]
            prom = launch_prometheus([node0.target], metrics_path=node0.path, jobs=jobs)
            stack.callback(shutil.rmtree, prom.workdir, ignore_errors=True)
            stack.callback(prom.stop)
            privates = []
            for exporter in private_exporters:
                privates.append(PrivatePrometheus(launch_prometheus([exporter.target], metrics_path=exporter.path),
                                                  exporter))
                stack.callback(shutil.rmtree, privates[-1].prom.workdir, ignore_errors=True)
                stack.callback(privates[-1].prom.stop)
        except BaseException:
            stack.close()
            raise
        slot_list = [Slot(prom=prom, exporter=exporter, job=name)
                     for name, exporter in zip(names[1:], exporters[1:], strict=True)]
        return cls(prom=prom, node0=node0, slots=slot_list, private=privates, _stack=stack)

    def ready(self) -> SharedPrometheus:
        if not self._ready:
            wait_until_ready(self.prom)
            self._ready = True
        return self

    def claim(self) -> Slot:
        """A slot no other test has used. Should the pool be spent (it is sized from the collected tests),
        the least recently claimed slot is reset and handed out once every SLO reads healthy again."""
        with self._lock:
            index, self._claimed = self._claimed, self._claimed + 1
        slot = self.slots[index % len(self.slots)]
        if index >= len(self.slots):
            slot.exporter.reset()
            poll(lambda: all(_healthy(slo, self.prom.value(slo.promql("3s"))) for slo in slot.catalog()),
                 timeout=30, what=f"{slot.job} to read healthy again after a reset")
        return slot

    def claim_private(self) -> PrivatePrometheus:
        """A Prometheus of the test's own, ready (launched with the shared one when collection counted it)."""
        with self._lock:
            index, self._claimed_private = self._claimed_private, self._claimed_private + 1
        if index < len(self.private):
            wait_until_ready(self.private[index].prom)
            return self.private[index]
        # Not counted at collection: a NODE0 and a Prometheus started now.
        exporter = self._stack.enter_context(node0_exporters([f"node0-late-{index:02d}"]))[0]
        late = PrivatePrometheus(start_prometheus([exporter.target], metrics_path=exporter.path), exporter)
        self._stack.callback(shutil.rmtree, late.prom.workdir, ignore_errors=True)
        self._stack.callback(late.prom.stop)
        return late

    def close(self) -> None:
        self._stack.close()
