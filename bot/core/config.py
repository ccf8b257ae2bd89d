"""Configuration: one YAML file validated at start-up, plus secrets from the environment.

The YAML path comes from `--config` or `BIZRA_CONFIG`; with neither, the built-in defaults apply
(they describe the seed's release, so the console works out of the box). Secrets are read only
from the environment and held as `SecretStr`, so they never reach a log line, an error or a reply.

Why the core imports feature modules here, and only here: the config file is one document whose
sections are defined by the features that read them (`bot/features/<name>/settings.py`, leaf
modules that import nothing else of the bot but `bot.core.settings`). The layers contract in
`pyproject.toml` allows exactly these imports.

Load-time cost: importing this module must stay cheap for the CLI (`bizra gates` reads only the
config). PyYAML is imported only when a file is read; `Secrets` (pydantic-settings, ~40 ms) is
defined on first use (a module `__getattr__`), so only what reads the environment's secrets pays it.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bot.core.config_file import ConfigError
from bot.core.settings import KubeAccessSettings, LeaderElectionSettings, SlackSettings, StoreSettings
from bot.features.access.settings import AccessSettings
from bot.features.canary.settings import CanarySettings
from bot.features.evidence.settings import EvidenceSettings
from bot.features.gates.settings import GatesSettings
from bot.features.home.settings import HomeSettings
from bot.features.rollback.settings import RollbackSettings
from bot.features.signoff.settings import SignoffSettings
from bot.features.slo.settings import SloSettings
from bot.features.verify.settings import VerifySettings

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class ReleaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespace: str = Field(default="bizra-production", description="Namespace of the release target.")
    deployment: str = Field(default="node0", description="Deployment the release moves.")
    container: str = Field(default="node0", description="Container in that Deployment whose image is released.")
    image_repository: str = Field(default="ghcr.io/bizra/node0", description="Images must come from this repository.")
    label_selector: str = Field(default="app=node0", description="Selects the target's ReplicaSets and pods.")
    last_stable_annotation: str = Field(
        default="flagger.app/last-stable-revision",
        description="Annotation the bot writes on the Deployment after each completed release or rollback.",
    )
    flagger_primary: bool | Literal["auto"] = Field(
        default="auto",
        description="Read the last stable image from <deployment>-primary (Flagger). auto: when it exists.",
    )
    kube: KubeAccessSettings = Field(default_factory=KubeAccessSettings)
    rollback: RollbackSettings = Field(default_factory=RollbackSettings)

    @field_validator("namespace", "deployment", "container")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not _DNS_LABEL.match(value) or len(value) > 63:
            raise ValueError("must be a Kubernetes name: lower-case letters, digits and '-', at most 63 characters")
        return value

    @field_validator("image_repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not value or any(mark in value for mark in ("@", " ")) or value.endswith("/"):
            raise ValueError("must be an image repository without tag or digest, e.g. ghcr.io/bizra/node0")
        return value


class BizraConfig(BaseModel):
    """The whole `bizra.yaml`: grouped sections, passed explicitly, never a global."""

    model_config = ConfigDict(extra="forbid")

    slack: SlackSettings = Field(default_factory=SlackSettings)
    gates: GatesSettings = Field(default_factory=GatesSettings)
    slo: SloSettings = Field(default_factory=SloSettings)
    release: ReleaseSettings = Field(default_factory=ReleaseSettings)
    canary: CanarySettings = Field(default_factory=CanarySettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    verify: VerifySettings = Field(default_factory=VerifySettings)
    signoff: SignoffSettings = Field(default_factory=SignoffSettings)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    home: HomeSettings = Field(default_factory=HomeSettings)
    leader_election: LeaderElectionSettings = Field(default_factory=LeaderElectionSettings)


class _SecretFields(BaseModel):
    """The fields of `Secrets`; `Secrets` adds where they come from (the environment)."""

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    port: int = Field(default=3000, ge=0, le=65535)
    host: str = "0.0.0.0"

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # slack_sdk joins method names onto base_url, so it must end with "/".
        return value if value.endswith("/") else value + "/"


if TYPE_CHECKING:

    class Secrets(BaseSettings, _SecretFields):
        """Secrets and process settings, from the environment only (defined by `_define_secrets`)."""

else:

    def __getattr__(name: str) -> Any:
        """`Secrets` is built on first use, so importing the config does not load pydantic-settings."""
        if name == "Secrets":
            return _secrets_class()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_secrets_lock = threading.Lock()


def _define_secrets() -> type[BaseSettings]:
    from pydantic_settings import BaseSettings, SettingsConfigDict  # lazy: ~40 ms; only readers of secrets pay it

    class Secrets(BaseSettings, _SecretFields):
        """Secrets and process settings, from the environment only."""

        __qualname__ = "Secrets"  # importable under this name (pickle, repr), like a module-level class
        model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    return Secrets


def _secrets_class() -> type[Secrets]:
    """The one `Secrets` class, defined on first use and then a plain module attribute."""
    with _secrets_lock:
        if "Secrets" not in globals():
            globals()["Secrets"] = _define_secrets()
        return globals()["Secrets"]


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_QUOTED = re.compile(r"'([^']*)'")


def _printable(text: str) -> str:
    """A field name or file name as typed, on one line (a key may hold a newline)."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def _describe(error: ValidationError, source: str, *, document: str | None = None) -> str:
    """One line per problem: the field, where it is in the file (line, column), and what is wrong.

    Only pydantic's message is shown, never the value (`input`), which may be a pasted token.
    """
    lines = [f"Invalid configuration in {_printable(source)}:"]
    for item in error.errors():
        field = _printable(".".join(str(part) for part in item["loc"])) or "(top level)"
        where = _position(document, item["loc"]) if document is not None else None
        lines.append(f"  {field}{f' ({where})' if where else ''}: {_printable(item['msg'])}")
    return "\n".join(lines)


def _position(document: str, loc: tuple[int | str, ...]) -> str | None:
    """`line L, column C` of the field at `loc` in the YAML text (the nearest enclosing one found)."""
    import yaml  # lazy: loaded already by load_config

    try:
        node = yaml.compose(document, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    mark = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            entry = next(((key, value) for key, value in node.value if getattr(key, "value", None) == str(part)), None)
            if entry is None:
                break
            mark, node = entry[0].start_mark, entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
        else:
            break
    return None if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"


def _yaml_problem(path: Path, exc: Exception) -> str:
    """Where the YAML is broken and what the parser expected, without the line's content.

    PyYAML's own message quotes the offending line, which may hold a token pasted into the file;
    quoted fragments of the problem longer than a character or an escape (a tag, a scalar) are left out too.
    """
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or "it cannot be parsed"
    if isinstance(getattr(exc, "position", None), int):  # yaml.ReaderError: a character YAML does not allow
        where = f" at character {exc.position + 1}"  # type: ignore[attr-defined]
        character = getattr(exc, "character", None)
        problem = (f"character #x{character:04x} is not allowed in YAML" if isinstance(character, int)
                   else "it holds bytes YAML cannot read")
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context:
        started = f" that starts at line {context_mark.line + 1}, column {context_mark.column + 1}" if (
            context_mark is not None and context_mark is not mark) else ""
        problem = f"{problem} ({context}{started})"
    problem = _QUOTED.sub(lambda q: q.group() if len(q.group(1)) <= 2 or q.group(1).startswith("<") else "'…'",
                          problem)
    return f"Config file {_printable(str(path))} is not valid YAML{where}: {_printable(problem)}."


def load_config(path: Path | None) -> BizraConfig:
    """Read and validate the YAML file, or return the defaults when no file is given."""
    if path is None:
        return BizraConfig()
    import yaml  # lazy: ~15 ms; only a config file pays it (the built-in defaults need no parser)

    try:
        document = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(document)
    except FileNotFoundError as exc:
        raise ConfigError(f"Config file {_printable(str(path))} does not exist.") from exc
    except OSError as exc:
        raise ConfigError(f"Config file {_printable(str(path))} cannot be read: {exc.strerror}.") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Config file {_printable(str(path))} is not UTF-8 text (byte {exc.start}).") from None
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(path, exc)) from None  # the parser's text quotes the line
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"Config file {_printable(str(path))} must hold a mapping of sections, "
                          f"not {type(raw).__name__}.")
    try:
        return BizraConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path), document=document)) from None  # its text shows the values


def load_secrets() -> Secrets:
    try:
        return _secrets_class()()
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "the environment")) from None  # its text shows the values
