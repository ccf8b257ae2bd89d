"""Everything a handler needs, built once per process by the composition root and passed explicitly.

What flows through: the validated config and secrets, the clock, which surface is talking (Slack,
console, CLI), the registry every feature registered itself on, and the shared services. Each
service is a typed `Provided` slot: the composition root (`bot/assembly.py`) gives it a factory,
the first use builds it (so `bizra gates` never touches a cluster or a network it does not need),
and a test may install its own instance with `.set(...)`.

The registry lives here too, beside the runtime it hands to every handler, so neither module has
to import the other.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from bot.core.config import BizraConfig, Secrets
from bot.core.delivery import Poster
from bot.core.invocation import ActionInvocation, Invocation, Reply, UsageError
from bot.core.leadership import Leadership
from bot.core.migrations import Schema
from bot.core.rendering import Renderers
from bot.core.store import Database
from bot.core.work import Work
from commands.breach import Alert, BreachEvent
from commands.cluster import Cluster
from commands.ports import Clock, SystemClock
from commands.slo import MetricsReader
from commands.verify import VerifyCluster

if TYPE_CHECKING:  # the Web API client is only built in `bizra serve`; its import costs start-up time
    from slack_sdk import WebClient

T = TypeVar("T")


class Provided(Generic[T]):
    """One shared instance, built on first use by the factory the composition root gave (thread-safe).

    A factory that raises (no kubeconfig, say) leaves the slot empty, so the next use tries again
    and reports the same clear error instead of caching a broken service.
    """

    def __init__(self, name: str, factory: Callable[[], T] | None = None) -> None:
        self.name = name
        self._factory = factory
        self._instance: T | None = None
        self._lock = threading.Lock()

    def provide_with(self, factory: Callable[[], T]) -> None:
        self._factory = factory

    def set(self, instance: T) -> None:
        with self._lock:
            self._instance = instance

    @property
    def wired(self) -> bool:
        """Whether `get()` has an instance or a factory to build one."""
        return self._instance is not None or self._factory is not None

    def get(self) -> T:
        with self._lock:
            if self._instance is None:
                if self._factory is None:
                    raise RuntimeError(f"no {self.name} is wired into this runtime")
                self._instance = self._factory()
            return self._instance


class GroupDirectory(Protocol):
    """Members of a Slack user group (None when they could not be looked up)."""

    def members(self, group_id: str) -> frozenset[str]: ...


class Pager(Protocol):
    """An incident pager beside Slack (PagerDuty Events v2): one incident per alert id."""

    def trigger(self, alert: Alert, *, summary: str, links: list[dict[str, str]]) -> None: ...

    def resolve(self, alert: Alert) -> None: ...


Handler = Callable[[Invocation, "Runtime"], Reply]
ActionHandler = Callable[[ActionInvocation, "Runtime"], "Reply | None"]
BreachListener = Callable[["Runtime", BreachEvent], None]
JobBody = Callable[["Runtime", datetime], object]
EventHandler = Callable[[dict[str, Any], "Runtime"], None]  # an Events API event (`app_home_opened`)


@dataclass(frozen=True)
class WebhookAnswer:
    """What a webhook route answers: an HTTP status and one line of text."""

    status: int
    text: str


# (runtime, the path's last segment, the body) -> answer; POST /webhooks/<prefix>/<segment>
WebhookHandler = Callable[["Runtime", str, bytes], WebhookAnswer]


@dataclass(frozen=True)
class WebhookRoute:
    """POSTs under `prefix` (e.g. `/webhooks/flagger/`) go to `handler`; bodies over `max_body` are 413."""

    prefix: str
    handler: WebhookHandler
    max_body: int


@dataclass(frozen=True)
class Job:
    """Background work the scheduler runs every `interval(config)` seconds, with the clock's time.

    `enabled(config)` decides whether `bizra serve` runs it at all. Bodies must be safe to run again
    (a retried tick, a second replica): every "exactly once" is a claim in the store.

    `leader_only`: with several replicas only the elected leader runs it (the scheduler asks
    `runtime.leadership` right before each run; a body about to page asks again). A job every replica
    must run (its own heartbeat) sets it False.
    """

    name: str
    body: JobBody
    interval: Callable[[BizraConfig], float]
    enabled: Callable[[BizraConfig], bool] = lambda config: True
    leader_only: bool = True


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    summary: str
    handler: Handler
    # Long work (cluster calls, Prometheus queries) runs after Slack's 3-second ack.
    slow: bool = True


class Registry:
    """What the features add to the bot: subcommands, buttons, renderers and breach listeners.

    The composition root creates one per runtime and lets every feature register on it, so a
    test gets a fresh registry with each runtime and nothing is registered by importing a module.
    """

    def __init__(self) -> None:
        self.subcommands: dict[str, Subcommand] = {}
        self.actions: dict[str, ActionHandler] = {}
        self.renderers = Renderers()
        self.breach_listeners: list[BreachListener] = []
        self.jobs: list[Job] = []
        self.events: dict[str, EventHandler] = {}
        self.webhooks: dict[str, WebhookRoute] = {}
        # Each component's versioned tables (bot/core/migrations.py): `bizra db upgrade` and start-up upgrade them all.
        self.schemas: list[Schema] = []

    def add_subcommand(self, command: Subcommand) -> None:
        if command.name in self.subcommands:
            raise RuntimeError(f"subcommand {command.name!r} registered twice")
        self.subcommands[command.name] = command

    def add_action(self, prefix: str, handler: ActionHandler) -> None:
        """Buttons whose `action_id` starts with `prefix` go to `handler`."""
        if prefix in self.actions:
            raise RuntimeError(f"action prefix {prefix!r} registered twice")
        self.actions[prefix] = handler

    def add_breach_listener(self, listener: BreachListener) -> None:
        """`listener(runtime, event)` runs once when a sustained breach starts (canary auto-rollback)."""
        self.breach_listeners.append(listener)

    def add_job(self, job: Job) -> None:
        if any(existing.name == job.name for existing in self.jobs):
            raise RuntimeError(f"job {job.name!r} registered twice")
        self.jobs.append(job)

    def add_event(self, name: str, handler: EventHandler) -> None:
        """Events API events of type `name` go to `handler(event, runtime)`, after the ack."""
        if name in self.events:
            raise RuntimeError(f"event {name!r} registered twice")
        self.events[name] = handler

    def add_schema(self, schema: Schema) -> None:
        """The tables `schema.component` owns; its store module also `ensure`s them on first use."""
        if any(existing.component == schema.component for existing in self.schemas):
            raise RuntimeError(f"schema {schema.component!r} registered twice")
        self.schemas.append(schema)

    def lookup(self, name: str) -> Subcommand:
        found = self.subcommands.get(name)
        if found is None:
            known = ", ".join(sorted(self.subcommands))
            close = difflib.get_close_matches(name.lower(), list(self.subcommands), n=1, cutoff=0.6)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            raise UsageError(
                f"`{_shown(name)}` is not a /bizra subcommand.{hint} Try one of: {known} (or `/bizra help`)."
            )
        return found

    def add_webhook(self, prefix: str, handler: WebhookHandler, *, max_body: int) -> None:
        """`POST <prefix><name>` on the HTTP surface goes to `handler(runtime, name, body)` (a feature's webhooks)."""
        if not prefix.startswith("/webhooks/") or not prefix.endswith("/"):
            raise ValueError(f"webhook prefix {prefix!r} must look like /webhooks/<name>/")
        if prefix in self.webhooks:
            raise RuntimeError(f"webhook prefix {prefix!r} registered twice")
        self.webhooks[prefix] = WebhookRoute(prefix=prefix, handler=handler, max_body=max_body)

    def find_webhook(self, path: str) -> WebhookRoute | None:
        for prefix, route in self.webhooks.items():
            if path.startswith(prefix) and "/" not in path[len(prefix):]:
                return route
        return None

    def find_action(self, action_id: str) -> ActionHandler | None:
        for prefix, handler in self.actions.items():
            if action_id.startswith(prefix):
                return handler
        return None


def _shown(word: str) -> str:
    """A user's word echoed back: no backticks to break the code span, and never longer than a line."""
    cleaned = re.sub(r"[`\s]", "", word)
    return cleaned if len(cleaned) <= 40 else cleaned[:39] + "…"


@dataclass
class Runtime:
    config: BizraConfig
    secrets: Secrets
    clock: Clock = field(default_factory=SystemClock)
    surface: str = "slack"
    registry: Registry = field(default_factory=Registry)
    store: Provided[Database] = field(default_factory=lambda: Provided("store"))
    poster: Provided[Poster] = field(default_factory=lambda: Provided("poster"))
    cluster: Provided[Cluster] = field(default_factory=lambda: Provided("Kubernetes cluster"))
    metrics: Provided[MetricsReader] = field(default_factory=lambda: Provided("metrics source"))
    pager: Provided[Pager] = field(default_factory=lambda: Provided("pager"))
    slack: Provided[WebClient] = field(default_factory=lambda: Provided("Slack Web API client"))
    groups: Provided[GroupDirectory] = field(default_factory=lambda: Provided("user-group directory"))
    verify_reads: Provided[VerifyCluster] = field(default_factory=lambda: Provided("verify reads"))
    work: Provided[Work] = field(default_factory=lambda: Provided("work executors"))
    leadership: Provided[Leadership] = field(default_factory=lambda: Provided("leader election"))

    def still_leader(self) -> bool:
        """Whether leader-only work (a page, a re-page, a send) may go on in this process now.

        A runtime without an election wired (a test's bare runtime) is the only process, hence leader.
        """
        return not self.leadership.wired or self.leadership.get().is_leader()

    def dispatch(self, invocation: Invocation) -> Reply:
        """Run a parsed invocation; usage problems become an ephemeral answer, never an exception."""
        try:
            command = self.registry.lookup(invocation.subcommand)
            return command.handler(invocation, self)
        except UsageError as exc:
            return Reply(result=str(exc), ephemeral=True)
