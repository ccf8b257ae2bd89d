"""The README's table of commands and permissions, and its first-release-manager example, stay true.

Read when the test runs: every subcommand the bot registers has a row; each row's permission is a
real `Permission` and the one help shows for that form; "everyone" and the roles are the shipped
defaults; and the YAML that names the first release manager, loaded as a config file, makes that
user a release manager in Slack.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.assembly import build_registry
from bot.core.config import load_config
from bot.features.access.settings import AccessSettings
from bot.features.help.permissions import COMMAND_PERMISSIONS
from commands.access import Caller, Permission, Policy, decide
from tests.gates.evidence import REPO

README = REPO / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start, end = text.index("<!-- section:commands -->"), text.index("<!-- /section:commands -->")
    return text[start:end]


def _rows() -> list[tuple[str, str, str, str]]:
    table = _section().split("| command | permission |", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        form, permission, everyone, roles = cells
        rows.append((form.strip("`").replace("\\|", "|"), permission.strip("`"), everyone, roles))
    return rows


def test_the_table_lists_every_registered_subcommand() -> None:
    rows = _rows()
    registered = build_registry().subcommands
    for name in registered:
        assert any(form == f"/bizra {name}" or form.startswith(f"/bizra {name} ") for form, *_ in rows), (
            f"README's commands table has no row for /bizra {name}")
    for form, *_ in rows:
        assert form.split()[1] in registered, f"README lists {form}, which the bot does not register"
    assert set(COMMAND_PERMISSIONS) == set(registered), "help's permission table covers exactly the subcommands"


def test_each_row_is_what_help_says_and_the_defaults_grant() -> None:
    defaults = AccessSettings()
    expected = [
        (f"/bizra {form}", perm.value if perm else "—",
         "yes" if perm is None or perm in defaults.everyone else "no",
         ", ".join(r for r, role in defaults.roles.items() if perm in role.permissions) if perm else "—")
        for forms in COMMAND_PERMISSIONS.values() for form, perm in forms
    ]
    assert _rows() == [(f, p, e, r or "—") for f, p, e, r in expected]
    listed = {permission for _, permission, _, _ in _rows()} - {"—"}
    assert listed == {p.value for p in Permission}, "every permission appears in the table"


def test_the_first_release_manager_example_makes_a_release_manager(tmp_path: Path) -> None:
    block = re.search(r"### Naming the first release manager.*?```yaml\n(.*?)```", _section(), re.DOTALL)
    assert block is not None
    user = yaml.safe_load(block.group(1))["access"]["roles"]["release-manager"]["users"][0]
    config_file = tmp_path / "bizra.yaml"
    config_file.write_text(block.group(1), encoding="utf-8")
    access = load_config(config_file).access
    policy = Policy(everyone=access.everyone, roles=access.roles, console_roles=access.console_roles,
                    channels=access.channels)
    for permission in AccessSettings().roles["release-manager"].permissions:
        assert decide(Caller(user_id=user), permission, policy).allowed, permission
    assert not decide(Caller(user_id="U_SOMEONE_ELSE"), Permission.ROLLBACK, policy).allowed
