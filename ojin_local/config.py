"""Configuration: embedded defaults < TOML file < OJIN_LOCAL_* environment < command-line flags.

Everything is parsed once, here, into frozen dataclasses; the rest of the code only reads them.
A wrong key or type is a `ConfigError` naming the key and where it came from.
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import os
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_PREFIX = "OJIN_LOCAL_"
DEV_KEY = "ojin-local-dev-key"
DEV_ORGANIZATION = "org_local"
DEV_USER = "user_local"


class ConfigError(Exception):
    """A configuration value that cannot be used; the message names the key and its source."""


def _choices(*values: str) -> dict[str, Any]:
    return {"choices": values}


def _at_least(minimum: int) -> dict[str, Any]:
    return {"minimum": minimum}


LOG_LEVELS = ("debug", "info", "warning", "error")
SECRET = {"secret": True}
API_KEY = {"secret": True, "api_key": True}
ORIGINS = {
    "each": re.compile(r"\*|https?://[^/\s?#]+"),
    "each_is": "an origin like http://localhost:3000",
}
CREDENTIALS_IN_URL = {"credentials_in_url": True}
POSTGRES_SCHEMES = ("postgresql", "postgres")
DATABASE_URL_FORMS = "empty, sqlite:///PATH or postgresql://USER[:PASSWORD]@HOST:PORT/DB"


def database_url_problem(url: str) -> str | None:
    """Why `url` cannot name the database, or None. A Postgres URL also needs its client, which
    is an extra: found without importing it (psycopg costs ~150 ms)."""
    scheme, separator, rest = url.partition("://")
    if not url or (scheme == "sqlite" and separator and rest.startswith("/") and rest != "/"):
        return None
    if scheme not in POSTGRES_SCHEMES or not separator:
        return f"must be {DATABASE_URL_FORMS}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises for a port that is not a number)
    except ValueError:  # not its message: it may quote a password taken for a port
        return f"must be {DATABASE_URL_FORMS}"
    if not parts.hostname or not parts.username or parts.path.strip("/") == "":
        return f"must be {DATABASE_URL_FORMS}"
    if importlib.machinery.PathFinder.find_spec("psycopg") is None:
        return "needs the Postgres client: pip install 'ojin-local[postgres]'"
    return None


DATABASE_URL = {**CREDENTIALS_IN_URL, "check": database_url_problem}


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    data_dir: str = ""
    log_level: str = field(default="info", metadata=_choices(*LOG_LEVELS))
    max_body_bytes: int = 1_048_576
    # API processes on the one port (`serve --processes`); more than one needs a database and a
    # queue they all reach (see check_shared).
    processes: int = field(default=1, metadata=_at_least(1))
    # Web apps on these origins may call the keyed /v1 routes from a browser ("*": any origin).
    cors_origins: list[str] = field(default_factory=list, metadata=ORIGINS)


@dataclass(frozen=True)
class DatabaseConfig:
    # Empty: the SQLite file in the data dir.
    url: str = field(default="", metadata=DATABASE_URL)


@dataclass(frozen=True)
class OrganizationsConfig:
    template: str = "org_template"


@dataclass(frozen=True)
class S3Config:
    bucket: str = "ojin-local"
    prefix: str = ""
    region: str = "us-east-1"
    access_key_id: str = ""
    secret_access_key: str = field(default="", metadata=SECRET)
    endpoint_url: str = ""
    public_endpoint_url: str = ""
    create_bucket: bool = False


@dataclass(frozen=True)
class StorageConfig:
    backend: str = field(default="filesystem", metadata=_choices("filesystem", "s3"))
    presign_expires_seconds: int = 3600
    upload_session_ttl_seconds: int = 86_400
    s3: S3Config = field(default_factory=S3Config)


@dataclass(frozen=True)
class JobsConfig:
    """The job queue (Huey): `serve` runs a consumer in its own process unless --no-jobs, and
    `ojin-local worker` runs one alone; both reach the same queue."""

    queue: str = field(default="sqlite", metadata=_choices("sqlite", "redis"))
    redis_url: str = field(default="redis://127.0.0.1:6379/0", metadata=CREDENTIALS_IN_URL)
    workers: int = field(default=2, metadata=_at_least(1))
    # `serve` always runs threads beside the API; `ojin-local worker` may fork processes.
    worker_type: str = field(default="thread", metadata=_choices("thread", "process"))
    max_attempts: int = field(default=3, metadata=_at_least(1))
    gc_interval_minutes: int = field(default=10, metadata=_at_least(1))
    idle_video_delay_seconds: int = field(default=0, metadata=_at_least(0))
    idle_video_max_side: int = field(default=512, metadata=_at_least(16))


@dataclass(frozen=True)
class ApiKeyConfig:
    key: str = field(default="", metadata=API_KEY)
    organization_id: str = ""
    user_id: str = ""
    admin: bool = False


@dataclass(frozen=True)
class ModelVariantConfig:
    model_variant_id: str = ""
    model_id: str = ""
    title: str = ""
    status: str = "public"
    description: dict[str, str] = field(default_factory=dict)
    configuration_schema: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    preview_media_url: str = ""


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    organizations: OrganizationsConfig = field(default_factory=OrganizationsConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    api_keys: tuple[ApiKeyConfig, ...] = ()
    model_variants: tuple[ModelVariantConfig, ...] = ()

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir)


_REQUIRED_IN_TABLE = {
    ApiKeyConfig: ("key", "organization_id", "user_id"),
    ModelVariantConfig: ("model_variant_id", "model_id", "title"),
}


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the effective configuration.

    `overrides` maps dotted keys ("server.port") to values from command-line flags; a None value
    means the flag was not given.
    """
    data: dict[str, Any] = {}
    source = "embedded defaults"
    if path is not None:
        source = str(path)
        data = _read_toml(Path(path))
    env = os.environ if env is None else env
    layers = [{}, _env_values(env), {k: v for k, v in (overrides or {}).items() if v is not None}]
    for layer in layers:
        for dotted, value in layer.items():
            _set_dotted(data, dotted, value)
        # Checked after every layer: a bad value is an error even where a later layer overrides it.
        config = _build(Config, data, "", source)
    check_shared(config)
    return _resolve_data_dir(config)


def check_shared(config: Config) -> None:
    """Several API processes share only what lives outside them: a SQLite database (one writer
    thread's guarantees) or a SQLite queue would each be a different one per machine."""
    processes = config.server.processes
    if processes == 1:
        return
    if config.database.url.partition("://")[0] not in POSTGRES_SCHEMES:
        raise ConfigError(
            f"[server] processes = {processes} needs a database every process shares: set "
            "[database] url (OJIN_LOCAL_DATABASE_URL) to a postgresql:// URL"
        )
    if config.jobs.queue != "redis":
        raise ConfigError(
            f"[server] processes = {processes} needs a queue every process shares: set "
            '[jobs] queue (OJIN_LOCAL_JOBS_QUEUE) to "redis"'
        )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _env_values(env: Mapping[str, str]) -> dict[str, _EnvValue]:
    """OJIN_LOCAL_<SECTION>_<KEY> variables, matched against the known sections."""
    sections = sorted(_scalar_sections(Config, ""), key=len, reverse=True)
    values: dict[str, _EnvValue] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        for section in sections:
            prefix = section.replace(".", "_") + "_"
            if rest.startswith(prefix):
                values[f"{section}.{rest[len(prefix) :]}"] = _EnvValue(name, raw)
                break
        else:
            raise _unknown_variable(name)
    return values


def _unknown_variable(name: str) -> ConfigError:
    import difflib

    known = _variable_names(Config, "")
    close = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), known, n=1)
    hint = f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else ""
    return ConfigError(f"unknown environment variable {name}{hint}")


def _variable_names(cls: type, prefix: str) -> list[str]:
    """Every OJIN_LOCAL_* variable a section's keys can be set from, less that prefix."""
    names = []
    for f in dataclasses.fields(cls):
        hint = _hints(cls)[f.name]
        name = f"{prefix}{f.name.upper()}"
        if dataclasses.is_dataclass(hint):
            names.extend(_variable_names(hint, name + "_"))
        elif hint in (bool, int, str):
            names.append(name)
    return names


@dataclass(frozen=True)
class _EnvValue:
    """A value still in its string form, converted once its target type is known."""

    variable: str
    raw: str


def _scalar_sections(cls: type, prefix: str) -> list[str]:
    sections = []
    for f in dataclasses.fields(cls):
        hint = _hints(cls)[f.name]
        if dataclasses.is_dataclass(hint):
            name = f"{prefix}{f.name}"
            sections.append(name)
            sections.extend(_scalar_sections(hint, name + "."))
    return sections


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, key = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[key] = value


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(cls: type, data: Any, where: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{_label(where)} must be a table ({source})")
    hints = _hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in known:
            if isinstance(value, _EnvValue):
                raise _unknown_variable(value.variable)
            raise ConfigError(f"unknown key {_label(_join(where, key))} ({source})")
    values = {}
    for name, f in known.items():
        if name in data:
            values[name] = _convert(hints[name], data[name], _join(where, name), source, f)
    for name in _REQUIRED_IN_TABLE.get(cls, ()):
        if not values.get(name):
            raise ConfigError(f"{_label(_join(where, name))} is required ({source})")
    built = cls(**values)
    if isinstance(built, ModelVariantConfig):
        _check_variant(built, where, source)
    return built


def _check_variant(variant: ModelVariantConfig, where: str, source: str) -> None:
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    schema = variant.configuration_schema
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        raise ConfigError(
            f"{_label(_join(where, 'configuration_schema'))} is not a JSON Schema: "
            f"{exc.message} ({source})"
        ) from exc
    if not all(isinstance(text, str) for text in variant.description.values()):
        raise ConfigError(
            f"{_label(_join(where, 'description'))} values must be strings ({source})"
        )


def _convert(hint: Any, value: Any, where: str, source: str, f: dataclasses.Field) -> Any:
    if isinstance(value, _EnvValue):
        value, source = _parse_env(hint, value, where), f"environment variable {value.variable}"
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where, source)
    if origin is tuple:
        item_type = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise ConfigError(f"{_label(where)} must be an array of tables ({source})")
        return tuple(
            _build(item_type, item, f"{where}[{i}]", source) for i, item in enumerate(value)
        )
    if origin is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{_label(where)} must be an array of strings ({source})")
        each = f.metadata.get("each")
        wrong = [item for item in value if each is not None and not each.fullmatch(item)]
        if wrong:
            raise ConfigError(
                f"{_label(where)}: {wrong[0]!r} is not {f.metadata['each_is']} ({source})"
            )
        return list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{_label(where)} must be a table ({source})")
        return dict(value)
    expected = {bool: "a boolean", int: "an integer", str: "a string"}[hint]
    if (hint is int and isinstance(value, bool)) or not isinstance(value, hint):
        shown = "a value (not shown: it is secret)" if f.metadata.get("secret") else repr(value)
        raise ConfigError(f"{_label(where)} must be {expected}, got {shown} ({source})")
    check = f.metadata.get("check")
    problem = check(value) if check is not None else None
    if problem is not None:
        shown = mask_url(value) if f.metadata.get("credentials_in_url") else value
        raise ConfigError(f"{_label(where)} {problem}, got {shown!r} ({source})")
    minimum = f.metadata.get("minimum")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{_label(where)} must be at least {minimum}, got {value!r} ({source})")
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(
            f"{_label(where)} must be one of {', '.join(choices)}, got {value!r} ({source})"
        )
    return value


def _parse_env(hint: Any, value: _EnvValue, where: str) -> Any:
    raw = value.raw.strip()
    if hint is bool:
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
    elif hint is int:
        try:
            return int(raw)
        except ValueError:
            pass
    elif hint is str:
        return value.raw
    else:
        raise ConfigError(
            f"{_label(where)} cannot be set from environment variable {value.variable}"
        )
    kind = "a boolean" if hint is bool else "an integer"
    raise ConfigError(
        f"{_label(where)} must be {kind}, got {raw!r} (environment variable {value.variable})"
    )


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _label(where: str) -> str:
    """'server.port' -> '[server] port', the way a TOML reader thinks of it."""
    section, _, key = where.rpartition(".")
    return f"[{section}] {key}" if section else key


def _resolve_data_dir(config: Config) -> Config:
    data_dir = config.server.data_dir
    if not data_dir:
        import platformdirs  # 4 ms of every start, only for the default

        data_dir = platformdirs.user_data_dir("ojin-local", appauthor=False)
    resolved = str(Path(data_dir).expanduser().resolve())
    return dataclasses.replace(config, server=dataclasses.replace(config.server, data_dir=resolved))


def with_public_url(config: Config, host: str, port: int) -> Config:
    """Fill in the public base URL from the bound address unless the config names one."""
    if config.server.public_url:
        url = config.server.public_url.rstrip("/")
    else:
        shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        url = f"http://{shown}:{port}"
    server = dataclasses.replace(config.server, public_url=url, port=port)
    return dataclasses.replace(config, server=server)


def as_masked_dict(config: Config, key_label: Callable[[str], str]) -> dict[str, Any]:
    """The effective configuration with secrets masked, for `ojin-local config show`. API keys
    show as `key_label(key)` instead, so that they can be told apart (their prefixes are alike)."""
    return _masked(config, key_label)


def _masked(value: Any, key_label: Callable[[str], str]) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.metadata.get("api_key") and item:
                out[f.name] = key_label(item)
            elif f.metadata.get("secret") and item:
                out[f.name] = _mask(item)
            elif f.metadata.get("credentials_in_url"):
                out[f.name] = mask_url(item)
            else:
                out[f.name] = _masked(item, key_label)
        return out
    if isinstance(value, tuple | list):
        return [_masked(v, key_label) for v in value]
    return value


def _mask(secret: str) -> str:
    return secret[:4] + "…" if len(secret) > 8 else "…"


def mask_url(url: str) -> str:
    """A URL's password masked (redis://:PASSWORD@host/0); the rest shows where it points. Read
    from the text rather than by urlsplit, which takes a password holding an unencoded `/` for
    a port and path, and would show it."""
    scheme, separator, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not separator or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.partition(':')[0]}:…@{host}"
