"""A real PostgreSQL server for tests: a throwaway cluster per test session, a fresh database per test.

API (fixtures are registered in tests/conftest.py, so every test folder can use them):

    def test_x(postgres_database: PostgresDatabase) -> None:
        postgres_database.url        # "postgresql://bizra@127.0.0.1:<port>/t_0003" (never a password)
        postgres_database.env        # {"BIZRA_STORE_PASSWORD": …}: add to os.environ / a subprocess env
        postgres_database.password   # the same password, for a direct connection
        postgres_database.connect()  # a psycopg connection (autocommit) to this database, for checks

    def test_y(postgres_server: PostgresServer) -> None:   # the session's one server
        db = postgres_server.new_database()                  # another fresh, empty database
        postgres_server.port, postgres_server.host           # 127.0.0.1 and a free port

    `postgres_env` (function fixture): like `postgres_database`, and it also sets BIZRA_STORE_PASSWORD in
    os.environ for the test (monkeypatch), so `Database.from_url(db.url)` and in-process `bizra` work.

Outside pytest (a benchmark): `with PostgresServer.launch() as server: db = server.new_database()`.

The cluster: Debian's `postgresql` binaries (`initdb`, `pg_ctl` from PATH or /usr/lib/postgresql/<ver>/bin),
a data directory and a Unix socket directory in a temp dir, TCP on 127.0.0.1 and a free port, password
authentication (scram-sha-256) for the superuser `bizra`, so the tests exercise the password coming from
the environment. initdb refuses to run as root (tests run as root in CI), so as root the server runs as
the `postgres` user (`runuser`) in a temp dir it owns. fsync is off: a test cluster never survives a crash.
Every test gets its own database (`CREATE DATABASE … TEMPLATE template0`), so tests never see each
other's rows; the cluster is stopped and removed when the session ends.

PostgreSQL missing is a test failure that says how to install it, never a skip.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
import pytest

INSTALL_HINT = "install it with `bash scripts/install-system-deps.sh` (apt-get install postgresql)"
SUPERUSER = "bizra"
_RUN_AS = "postgres"  # the Debian package's system user, which owns the cluster when the tests run as root


class PostgresMissing(RuntimeError):
    pass


def _binary(name: str) -> str:
    """`name` from PATH, else the newest /usr/lib/postgresql/<ver>/bin (Debian keeps them off PATH)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0)
    if not candidates:
        raise PostgresMissing(f"PostgreSQL's {name} is not installed: {INSTALL_HINT}")
    return candidates[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class PostgresDatabase:
    """One database on the session's server, empty when handed out."""

    name: str
    host: str
    port: int
    user: str
    password: str = field(repr=False)

    @property
    def url(self) -> str:
        """The store URL as a config file holds it: no password (that comes from the environment)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.name}"

    @property
    def env(self) -> dict[str, str]:
        """What a process needs in its environment to open `url`."""
        return {"BIZRA_STORE_PASSWORD": self.password}

    def connect(self) -> psycopg.Connection[Any]:
        """A direct autocommit connection, for a test to look at (or prepare) the database itself."""
        return psycopg.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               dbname=self.name, autocommit=True, connect_timeout=10)


class PostgresServer:
    """A throwaway cluster on 127.0.0.1; `new_database()` hands out fresh databases."""

    def __init__(self, root: Path, port: int, password: str, as_user: str | None) -> None:
        self.root = root
        self.data = root / "data"
        self.socket_dir = root / "socket"
        self.host = "127.0.0.1"
        self.port = port
        self.user = SUPERUSER
        self.password = password
        self._as_user = as_user
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._stopped = False

    # -- life cycle --------------------------------------------------------------------------------
    @classmethod
    def launch(cls) -> PostgresServer:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        as_user = _RUN_AS if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="bizra-pg-"))
        if as_user is not None:
            try:
                account = pwd.getpwnam(as_user)
            except KeyError:
                shutil.rmtree(root, ignore_errors=True)
                raise PostgresMissing(f"no `{as_user}` user to run PostgreSQL as (tests run as root): "
                                      f"{INSTALL_HINT}") from None
            os.chown(root, account.pw_uid, account.pw_gid)
        server = cls(root, _free_port(), secrets.token_hex(12), as_user)
        try:
            server._initdb(initdb)
            server._start(pg_ctl)
        except BaseException:
            server._remove()
            raise
        atexit.register(server.stop)  # also when the session ends without its fixtures' teardown
        return server

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        command = list(argv)
        if self._as_user is not None:
            command = ["runuser", "-u", self._as_user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                                cwd=self.root, env={**os.environ, "LC_ALL": "C.UTF-8"})
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed ({result.returncode}): "
                               f"{(result.stderr or result.stdout).strip()[-2000:]}")
        return result

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text, encoding="utf-8")
        if self._as_user is not None:
            account = pwd.getpwnam(self._as_user)
            os.chown(path, account.pw_uid, account.pw_gid)

    def _initdb(self, initdb: str) -> None:
        password_file = self.root / "pwfile"
        self._write(password_file, self.password + "\n")
        self._run(initdb, "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={password_file}",
                  "--auth=scram-sha-256", "--encoding=UTF8", "--no-sync", "--no-instructions")
        password_file.unlink()
        self.socket_dir.mkdir()
        if self._as_user is not None:
            account = pwd.getpwnam(self._as_user)
            os.chown(self.socket_dir, account.pw_uid, account.pw_gid)

    def _start(self, pg_ctl: str) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.socket_dir} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(pg_ctl, "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options,
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        try:
            self._run(_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            self._remove()

    def _remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # -- databases ---------------------------------------------------------------------------------
    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               dbname="postgres", autocommit=True, connect_timeout=10)

    def new_database(self) -> PostgresDatabase:
        """A fresh, empty database (from template0: nothing another test made can be in it)."""
        with self._lock:
            name = f"t_{next(self._counter):04d}"
        with self.admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return PostgresDatabase(name=name, host=self.host, port=self.port, user=self.user, password=self.password)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join((self.root / "server.log").read_text(encoding="utf-8").splitlines()[-lines:])
        except OSError:
            return ""


# -- pytest fixtures (imported by tests/conftest.py) ---------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's one PostgreSQL cluster, started on first use, stopped at the end."""
    try:
        server = PostgresServer.launch()
    except PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> PostgresDatabase:
    """A fresh, empty database of this test's own on the session's server."""
    return postgres_server.new_database()


@pytest.fixture
def postgres_env(postgres_database: PostgresDatabase, monkeypatch: pytest.MonkeyPatch) -> PostgresDatabase:
    """`postgres_database`, with its password in this test's environment (BIZRA_STORE_PASSWORD)."""
    for name, value in postgres_database.env.items():
        monkeypatch.setenv(name, value)
    return postgres_database
