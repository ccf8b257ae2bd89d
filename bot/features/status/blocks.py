"""The status report as Block Kit: a header, the leader, the replicas, the store."""

from __future__ import annotations

from bot.core.blocks import MAX_BLOCKS, Blocks, header, packed_sections, section
from bot.features.status.render import TITLE, leader_line, replica_line, replicas_header, store_line
from bot.features.status.report import StatusReport


def status_blocks(report: StatusReport) -> Blocks:
    replicas = [replica_line(replica) for replica in report.replicas] or ["• none yet"]
    blocks: Blocks = [header(TITLE), section(leader_line(report)),
                      *packed_sections([replicas_header(report), *replicas]), section(store_line(report))]
    return blocks[:MAX_BLOCKS]
