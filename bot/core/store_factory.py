"""The one place a store is built from settings: `store.url` (or `store.path`) chooses the backend."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from bot.core.store import Database, SqliteDatabase
from bot.core.store_url import PASSWORD_VARIABLE, parse_store_url

# The whole connection may come from a Secret: the URL here (user, host, database; still no password),
# the password in BIZRA_STORE_PASSWORD. It wins over the config file's `store:`.
URL_VARIABLE = "BIZRA_STORE_URL"


class StoreChoice(Protocol):  # what open_store reads (bot.core.settings.StoreSettings)
    @property
    def url(self) -> str | None: ...
    @property
    def path(self) -> Path: ...
    @property
    def pool_size(self) -> int: ...


def store_from_url(url: str, *, env: Mapping[str, str] | None = None, pool_size: int = 10) -> Database:
    """The store at `url`; a PostgreSQL password from `env` (default: the process environment)."""
    parsed = parse_store_url(url)
    if parsed.backend == "sqlite":
        assert parsed.path is not None
        return SqliteDatabase(parsed.path)
    # lazy: psycopg loads libpq; an install on SQLite (the console, one replica) never pays for it.
    from bot.core.store_postgres import PostgresDatabase

    environment = os.environ if env is None else env
    password = environment.get(PASSWORD_VARIABLE) or None  # else libpq reads PGPASSWORD / ~/.pgpass itself
    return PostgresDatabase(host=parsed.host, port=parsed.port, user=parsed.user, dbname=parsed.dbname,
                            password=password, options=parsed.options, pool_size=pool_size)


def open_store(settings: StoreChoice, *, env: Mapping[str, str] | None = None) -> Database:
    """The store the environment (BIZRA_STORE_URL) or else the config names (not yet opened: `open()` or the
    first use checks it)."""
    environment = os.environ if env is None else env
    url = environment.get(URL_VARIABLE, "").strip() or settings.url
    if url:
        return store_from_url(url, env=environment, pool_size=settings.pool_size)
    return SqliteDatabase(settings.path)
