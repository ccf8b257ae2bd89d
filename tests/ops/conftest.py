"""checkov takes seconds per run: when collection selects tests that read its scans, they start then and
run while earlier tests do (`start_checkov_scans` in tests/ops/support.py; the `checkov_scans` fixture
collects their reports)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.ops.support import EARLY_SCANS, start_checkov_scans

_WORKDIR = pytest.StashKey[Path]()


@pytest.hookimpl(trylast=True)  # after -k / -m deselection
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = any("checkov_scans" in getattr(item, "fixturenames", ()) for item in items)
    if not wanted or EARLY_SCANS in config.stash:
        return
    workdir = Path(tempfile.mkdtemp(prefix="bizra-checkov-"))
    config.stash[_WORKDIR] = workdir
    # Without checkov installed, nothing starts here: the `checkov_scans` fixture fails the tests with the fix.
    with contextlib.suppress(pytest.fail.Exception, OSError):
        config.stash[EARLY_SCANS] = start_checkov_scans(workdir)


def pytest_sessionfinish(session: pytest.Session) -> None:
    for process in session.config.stash.get(EARLY_SCANS, {}).values():
        if process.poll() is None:  # the tests that read it did not run (-x, interrupted)
            process.kill()
            process.communicate()
    workdir = session.config.stash.get(_WORKDIR, None)
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
