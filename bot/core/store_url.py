"""`store.url`: which store backend and where (parsed here; built by bot/core/store_factory.py).

    store:
      url: sqlite:///.bizra/state.sqlite            # relative; sqlite:////var/lib/bizra/state.sqlite absolute
      url: postgresql://bizra@db.internal:5432/bizra  # password: BIZRA_STORE_PASSWORD (or PGPASSWORD)

Without `url`, `store.path` names the SQLite file (the default). A URL holding a password is refused:
a password belongs in the environment (a Kubernetes Secret), never in the config file or its logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.core.config_file import ConfigError

PASSWORD_VARIABLE = "BIZRA_STORE_PASSWORD"
DEFAULT_PORT = 5432
_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql"}


class StoreUrlError(ConfigError, ValueError):
    """A `store.url` that names no usable store (a ValueError too, so the config model reports it)."""


@dataclass(frozen=True)
class StoreUrl:
    backend: str  # sqlite | postgresql
    path: Path | None = None
    host: str = ""
    port: int = DEFAULT_PORT
    user: str = ""
    dbname: str = ""
    options: dict[str, str] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.path}"
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"


def parse_store_url(url: str) -> StoreUrl:
    """`sqlite:///path` or `postgresql://user@host[:port]/database[?sslmode=…]`; `StoreUrlError` otherwise."""
    parts = urlsplit(url.strip())
    backend = _SCHEMES.get(parts.scheme.lower())
    if backend is None:
        raise StoreUrlError(f"store.url {_without_password(url)!r}: use sqlite:///path/to/state.sqlite or "
                          "postgresql://user@host:5432/database")
    if parts.password is not None:
        raise StoreUrlError(f"store.url {_without_password(url)!r} holds a password: remove it from the config "
                          f"and set {PASSWORD_VARIABLE} (or PGPASSWORD) in the environment instead")
    if backend == "sqlite":
        if parts.netloc:
            raise StoreUrlError(f"store.url {url!r}: a SQLite URL has no host; write sqlite:///relative/path or "
                              "sqlite:////absolute/path")
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise StoreUrlError(f"store.url {url!r} names no file: write sqlite:///path/to/state.sqlite")
        return StoreUrl(backend="sqlite", path=Path(path))
    dbname = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not parts.username or not dbname:
        raise StoreUrlError(f"store.url {url!r} needs a user, a host and a database: "
                          "postgresql://user@host:5432/database")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise StoreUrlError(f"store.url {url!r}: the port is not a number") from None
    options = dict(parse_qsl(parts.query))
    if "password" in options:
        raise StoreUrlError(f"store.url {_without_password(url)!r} holds a password: set {PASSWORD_VARIABLE} "
                          "(or PGPASSWORD) in the environment instead")
    return StoreUrl(backend="postgresql", host=parts.hostname, port=port, user=unquote(parts.username),
                    dbname=dbname, options=options)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url.split("?", 1)[0] if "password=" in url else url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc, query="").geturl()
