"""The composition root: builds a runtime, its registry and its services, and lets each feature register.

Every surface (the Bolt app, the console, the scheduler, the CLI) and every test starts here, so
the wiring is in one place: which features exist, which adapter serves which port. Nothing
registers itself by being imported; a new runtime gets a fresh registry.

Services are built on first use: `bizra gates` never builds a Kubernetes client or a Prometheus
connection, and the adapters import their heavy libraries (the Kubernetes client, matplotlib)
only when they are built or used.
"""

from __future__ import annotations

import os
import uuid

from bot.adapters.kubernetes import KubernetesCluster, load_configuration
from bot.adapters.lease import KubeLease
from bot.adapters.pagerduty import PagerDuty
from bot.adapters.prometheus import PrometheusSource
from bot.adapters.slack import SlackGroupDirectory, SlackPoster, SlackTransport, build_web_client
from bot.adapters.verify_reads import KubeVerifyReads
from bot.core.audit import SCHEMA as audit_tables
from bot.core.blocks import text_section
from bot.core.config import BizraConfig, Secrets
from bot.core.delivery import ConsolePoster, Poster
from bot.core.leadership import (
    Leadership,
    LeaseBackend,
    LeaseElector,
    SoleLeader,
    election_enabled,
    resolve_identity,
    resolve_namespace,
)
from bot.core.outbox import Outbox, OutboxPoster, Sender, audit_failure
from bot.core.outbox import register as register_outbox
from bot.core.runtime import Registry, Runtime
from bot.core.store_factory import open_store
from bot.core.store_lease import SCHEMA as lease_tables
from bot.core.store_lease import StoreLease
from bot.core.work import Work
from bot.features.audit import feature as audit
from bot.features.canary import feature as canary
from bot.features.dod import feature as dod
from bot.features.evidence import feature as evidence
from bot.features.gates import feature as gates
from bot.features.help import feature as help_
from bot.features.home import feature as home
from bot.features.releases import feature as releases
from bot.features.rollback import feature as rollback
from bot.features.signoff import feature as signoff
from bot.features.slo import feature as slo
from bot.features.status import feature as status
from bot.features.verify import feature as verify
from commands.ports import Clock, SystemClock

FEATURES = (help_, gates, slo, canary, rollback, releases, verify, dod, audit, signoff, evidence, home, status)


def build_registry() -> Registry:
    registry = Registry()
    # Plain strings (usage errors, refusals) are one mrkdwn section.
    registry.renderers.add(str, text=str, blocks=text_section)
    for feature in FEATURES:
        feature.register(registry)
    register_outbox(registry)  # the background sender of messages Slack did not take at once
    registry.add_schema(lease_tables)  # the leader Lease when it lives in the store (leader_election.backend)
    registry.add_schema(audit_tables)  # the core's audit log (the outbox registers its own table)
    return registry


def build_runtime(
    config: BizraConfig, secrets: Secrets, *, clock: Clock | None = None, surface: str = "slack"
) -> Runtime:
    runtime = Runtime(
        config=config, secrets=secrets, clock=clock or SystemClock(), surface=surface, registry=build_registry()
    )
    wire_services(runtime)
    return runtime


def _poster(runtime: Runtime) -> Poster:
    if runtime.surface == "console":
        return ConsolePoster(runtime.registry.renderers)
    slack = runtime.config.slack
    direct = SlackPoster(
        runtime.slack.get(),
        runtime.registry.renderers,
        default_channel=slack.release_channel,
        messages_per_second=slack.messages_per_second,
    )
    # Every message goes through the persisted outbox: retried, in order per thread, never sent twice.
    outbox = Outbox(runtime.store.get(), SlackTransport(direct, runtime.slack.get()), on_failed=audit_failure(runtime),
                    sender=lambda: _outbox_sender(runtime))
    return OutboxPoster(outbox, runtime.registry.renderers, default_channel=slack.release_channel)


_PROCESS = uuid.uuid4().hex[:12]  # this process, apart from a predecessor in the same pod (same identity)


def _outbox_sender(runtime: Runtime) -> Sender:
    """Who claims outbox rows here: a new elected leader takes over a dead leader's leases (`Outbox`)."""
    leadership = runtime.leadership.get()
    return Sender(name=f"{leadership.identity}/{os.getpid()}-{_PROCESS}",
                  leader=leadership.elected and leadership.is_leader())


def _leadership(runtime: Runtime) -> Leadership:
    """The Lease elector for `bizra serve` when the election is on (docs/high-availability.md); else
    this process leads alone (the console and the CLI run no background jobs)."""
    config = runtime.config
    settings = config.leader_election
    identity = resolve_identity(settings, os.environ)
    if runtime.surface != "slack" or not election_enabled(settings, os.environ):
        return SoleLeader(identity)
    lease: LeaseBackend
    if settings.backend == "store":
        lease = StoreLease(runtime.store.get(), name=settings.lease_name)
    else:
        # A renewal is one small write: waiting longer than half the renew deadline for it helps nobody.
        timeout = min(config.release.kube.timeout_seconds, settings.renew_deadline.total_seconds() / 2)
        lease = KubeLease.from_settings(config.release.kube, namespace=resolve_namespace(settings, os.environ),
                                        name=settings.lease_name, timeout=timeout, user_agent=f"bizra-bot/{identity}")
    return LeaseElector(lease, identity=identity, settings=settings, clock=runtime.clock)


def wire_services(runtime: Runtime) -> None:
    """Give every service slot its factory (each built on first use, from the runtime's config)."""
    config = runtime.config
    runtime.store.provide_with(lambda: open_store(config.store))  # SQLite or PostgreSQL, by store.url
    runtime.poster.provide_with(lambda: _poster(runtime))
    runtime.leadership.provide_with(lambda: _leadership(runtime))
    runtime.cluster.provide_with(lambda: KubernetesCluster.from_settings(config.release.kube))
    runtime.metrics.provide_with(lambda: PrometheusSource(
        config.slo.prometheus, burn_policy=config.slo.burn_rate, max_concurrent=config.slo.max_concurrent_queries))
    runtime.pager.provide_with(lambda: PagerDuty(config.slo.pagerduty))
    runtime.slack.provide_with(lambda: build_web_client(runtime.secrets))
    runtime.groups.provide_with(
        lambda: SlackGroupDirectory(runtime.slack.get(), cache_seconds=config.access.group_cache_seconds)
    )
    # Slow work off the ack path; charts drawn in a spawned process only where acks are answered.
    runtime.work.provide_with(lambda: Work(cpu_processes=1 if runtime.surface == "slack" else 0))
    runtime.verify_reads.provide_with(
        lambda: KubeVerifyReads(
            cluster_factory=runtime.cluster.get,
            configuration_factory=lambda: load_configuration(config.release.kube),
            timeout=config.release.kube.timeout_seconds,
        )
    )
