"""`bizra db upgrade|status|copy`: the store's schema and moving it between backends (docs/store.md).

    bizra db status  [--config F]     backend, where, and each component's schema version
    bizra db upgrade [--config F]     apply every pending migration now (bizra serve also does at start-up)
    bizra db copy --from sqlite:///.bizra/state.sqlite --to postgresql://bizra@db:5432/bizra [--overwrite]

A PostgreSQL password comes from BIZRA_STORE_PASSWORD (or PGPASSWORD), never from the command line.
Exit 0 done, 2 a usage, configuration or store problem (one line: what, where, what to do).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot.surfaces.cli.common import add_verb

if TYPE_CHECKING:
    from bot.core.migrations import Schema
    from bot.core.runtime import Runtime

EXIT_OK = 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_verb(subparsers, "db", help="the store: schema status, upgrade, copy to another backend")
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION")
    actions.required = True
    status = add_verb(actions, "status", help="backend, location and each component's schema version")
    status.set_defaults(run=run_status)
    upgrade = add_verb(actions, "upgrade", help="apply every pending schema migration")
    upgrade.set_defaults(run=run_upgrade)
    copy = add_verb(actions, "copy", help="copy every table from one store to another (e.g. SQLite to PostgreSQL)")
    copy.add_argument("--from", dest="source", required=True, metavar="URL",
                      help="the store to copy: sqlite:///path or postgresql://user@host:port/db")
    copy.add_argument("--to", dest="target", required=True, metavar="URL",
                      help="the store to fill (password: BIZRA_STORE_PASSWORD or PGPASSWORD)")
    copy.add_argument("--overwrite", action="store_true",
                      help="replace the rows a non-empty target already holds (refused without it)")
    copy.set_defaults(run=run_copy)


def schemas_of(runtime: Runtime) -> list[Schema]:
    """Every component's tables: the features' and the core's (the registry) and the Slack surface's replay guard."""
    from bot.surfaces.slack_app import SEEN_SCHEMA  # lazy: slack_bolt; only the verbs that upgrade pay for it

    return [*runtime.registry.schemas, SEEN_SCHEMA]


def run_status(args: argparse.Namespace) -> int:
    from bot.surfaces.cli.common import runtime_from  # lazy: the composition root

    runtime = runtime_from(args, surface="cli")
    db = runtime.store.get()
    health = db.open()
    stored = db.schema_versions()
    print(f"store: {db.backend} at {db.location} ({health.state}{': ' + health.detail if health.detail else ''})")
    pending = 0
    for schema in sorted(schemas_of(runtime), key=lambda s: s.component):
        have = stored.get(schema.component, 0)
        note = ""
        if have < schema.latest:
            pending += 1
            note = f"  (version {schema.latest} available: bizra db upgrade)"
        print(f"  {schema.component:<22} {have}{note}")
    for component in sorted(set(stored) - {schema.component for schema in schemas_of(runtime)}):
        print(f"  {component:<22} {stored[component]}  (not known to this release)")
    if pending:
        print(f"{pending} component(s) behind: `bizra db upgrade` (or the next `bizra serve`) applies them")
    return EXIT_OK


def run_upgrade(args: argparse.Namespace) -> int:
    from bot.surfaces.cli.common import runtime_from  # lazy: the composition root

    runtime = runtime_from(args, surface="cli")
    db = runtime.store.get()
    db.open()
    steps = db.upgrade(schemas_of(runtime))
    changed = {component: step for component, step in steps.items() if step[0] != step[1]}
    for component, (before, after) in sorted(changed.items()):
        print(f"  {component:<22} {before} → {after}")
    print(f"store {db.location}: {len(changed)} component(s) upgraded, {len(steps) - len(changed)} already current")
    return EXIT_OK


def run_copy(args: argparse.Namespace) -> int:
    from bot.core.config_file import ConfigError  # lazy: keeps `--help` free of it
    from bot.core.store_copy import copy_store  # lazy: the store backends
    from bot.core.store_factory import store_from_url  # lazy: as above
    from bot.surfaces.cli.common import runtime_from  # lazy: the composition root

    source, target = store_from_url(args.source), store_from_url(args.target)
    if source.location == target.location:
        raise ConfigError(f"bizra db copy: --from and --to are the same store ({source.location})")
    runtime = runtime_from(args, surface="cli")
    try:
        report = copy_store(source, target, schemas_of(runtime), overwrite=args.overwrite)
    finally:
        source.close()
        target.close()
    for table, rows in sorted(report.rows.items()):
        print(f"  {table:<26} {rows} rows")
    created = f"; created {', '.join(report.created)}" if report.created else ""
    print(f"copied {report.total} rows in {len(report.rows)} tables from {source.location} to {target.location} "
          f"(row counts verified{created}; identity sequences reset: {len(report.identities_reset)})")
    print(f"next: set store.url: {target.location} in the config (the password in BIZRA_STORE_PASSWORD) and restart")
    return EXIT_OK
