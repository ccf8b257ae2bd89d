"""The status report's words, for Slack and the console: the leader, the replicas seen, the store.

The Block Kit renderer is in `blocks.py` and uses these lines, so both surfaces say the same thing.
"""

from __future__ import annotations

from bot.features.status.replicas import ReplicaSeen
from bot.features.status.report import StatusReport

TITLE = "Bot status"


def when(moment: object) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if hasattr(moment, "strftime") else str(moment)


def leader_line(report: StatusReport) -> str:
    if not report.elected:
        return f"Leader: *{report.this_replica}* (no election: this process runs the background jobs alone)"
    here = " (this replica)" if report.this_is_leader else f"; this replica is {report.this_replica}"
    if report.leader is None:
        return (f"Leader: *none right now* (Lease {report.lease}): background jobs wait until a replica "
                f"acquires it{'' if report.this_is_leader else f'; this replica is {report.this_replica}'}")
    return f"Leader: *{report.leader}*{here} — Lease {report.lease}"


def replica_line(replica: ReplicaSeen) -> str:
    role = "leader" if replica.is_leader else "follower"
    seen = "" if replica.recent else " — *not seen recently*"
    return (f"• {replica.identity}: {role}, version {replica.version}, up since {when(replica.started_at)}, "
            f"last seen {when(replica.last_seen)}{seen}")


def replicas_header(report: StatusReport) -> str:
    recent = sum(1 for replica in report.replicas if replica.recent)
    return f"Replicas seen recently: {recent} (of {len(report.replicas)} with a heartbeat)"


def store_line(report: StatusReport) -> str:
    store = report.store
    if store.problem:
        return f"Store: {store.backend} at {store.location} — *cannot be read*: {store.problem}"
    versions = ", ".join(f"{name} v{version}" for name, version in sorted(store.schema_versions.items()))
    return f"Store: {store.backend} at {store.location}; schema: {versions or 'no versioned component yet'}"


def lines(report: StatusReport) -> list[str]:
    replicas = [replica_line(replica) for replica in report.replicas] or [
        "• none yet (each replica records itself within one heartbeat interval of starting)"]
    return [leader_line(report), replicas_header(report), *replicas, store_line(report)]


def status_text(report: StatusReport) -> str:
    return "\n".join([TITLE, *(line.replace("*", "") for line in lines(report))])
