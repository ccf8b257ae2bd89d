"""The store behaviour suite on both backends: fixtures parametrised over SQLite and PostgreSQL.

    def test_claim(store_section: dict[str, str]) -> None:        # runs twice: [sqlite] and [postgresql]
        config = BizraConfig.model_validate({"store": store_section, ...})

    def test_rows(any_store: Database) -> None:                   # an opened store of each backend
        any_store.connect().execute(...)

`store_section` is the `store:` section of a config: a SQLite file in the test's tmp_path, or a fresh
PostgreSQL database of the session's server (tests/support/postgres.py) with its password in the
test's environment (BIZRA_STORE_PASSWORD). Stores the test opened on that database are closed at its end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.store import Database
from bot.core.store_factory import store_from_url
from bot.core.store_postgres import close_stores

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def store_section(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"path": str(tmp_path / "state.sqlite")}
        return
    database = request.getfixturevalue("postgres_env")
    try:
        yield {"url": database.url}
    finally:
        close_stores(dbname=database.name)


@pytest.fixture
def any_store(store_section: dict[str, str]) -> Iterator[Database]:
    """An opened store of each backend (the same one `store_section` names)."""
    url = store_section.get("url") or f"sqlite:///{store_section['path']}"
    db = store_from_url(url)
    db.open()
    try:
        yield db
    finally:
        db.close()
