"""Which permission each subcommand's forms need (commands/access.py `Permission`), for help and the README.

Handlers authorize by these names (`require(..., permission=...)`); this table is what help shows
beside them, and `tests/readme/` checks the README's table against it and the registry.
"""

from __future__ import annotations

from commands.access import Permission

P = Permission

# Subcommand -> (form, permission) in the order help lists them; None: no permission needed.
COMMAND_PERMISSIONS: dict[str, list[tuple[str, Permission | None]]] = {
    "help": [("help [subcommand]", None)],
    "gates": [("gates", P.GATES)],
    "slo": [("slo", P.SLO), ("slo ack <alert id>", P.ALERT_ACK),
            ("slo silence <slo|all> <duration> <reason>", P.ALERT_SILENCE)],
    "canary": [
        ("canary status", P.CANARY_STATUS),
        ("canary start <image@sha256:digest>", P.CANARY_START),
        ("canary promote", P.CANARY_PROMOTE),
        ("canary abort [reason]", P.CANARY_ABORT),
        ('canary start|promote --force "<reason>"', P.CANARY_FORCE),
    ],
    "rollback": [("rollback [--to <release #|digest>] [reason] / confirm <id> / cancel <id>", P.ROLLBACK)],
    "history": [("history [N]", P.HISTORY)],
    "audit": [("audit [N]", P.AUDIT)],
    "verify": [("verify", P.VERIFY)],
    "dod": [("dod", P.DOD)],
    "signoff": [("signoff / tick / sign", P.SIGNOFF)],
    "evidence": [("evidence [canary-id]", P.EVIDENCE)],
    "status": [("status", None)],
}
