"""Service settings, passed to the app factory; never read from the environment at import.

`Settings` is a pydantic-settings model: each field names the environment variable it is
read from (its alias), and each check names that variable in its message. `Settings()`
holds the defaults and what is passed in; only `Settings.from_env(environ)` reads
variables, from the mapping it is given (``os.environ``, or uWSGI's, see
`process_environment`).
"""

from __future__ import annotations

import ctypes
import itertools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import semver
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .model.registry import LATEST, RUNTIMES, Runtime

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
# Keys are header values: visible ASCII, no spaces or commas (API_KEYS separates with commas).
_KEY_CHARACTERS = frozenset(chr(code) for code in range(0x21, 0x7F)) - {","}


class SettingsError(ValueError):
    """A setting with an unusable value; the message names the variable."""


class Settings(BaseSettings):
    """What the service serves and how.

    Environment variables (see `from_env`): ``MODELS_DIR``, ``MODEL_NAME``,
    ``MODEL_VERSION`` (``latest`` or a semantic version), ``MODEL_RUNTIME``, ``LOG_LEVEL``,
    ``MAX_INSTANCES``.
    ``MODEL_VERSION`` is the default choice: ``<models_dir>/SERVING``, written by
    ``serve-version``, takes precedence over it (see `selection.choose`).
    The API's own: ``MAX_BODY_BYTES``, ``BODY_TIMEOUT``, ``API_KEYS`` and ``API_KEYS_FILE``,
    ``METRICS_AUTH``, ``PROMETHEUS_MULTIPROC_DIR``, ``PREDICTION_STORE`` and
    ``PREDICTION_STORE_TIMEOUT``, ``PREDICTION_CACHE``, ``BATCH_MAX_SIZE``,
    ``BATCH_MAX_WAIT_MS``, ``BATCH_TIMEOUT_MS``, ``FEEDBACK_DB``, ``FEEDBACK_TTL``,
    ``FEEDBACK_MAX_ROWS``; the server's: ``RECYCLE_REQUESTS``,
    ``RECYCLE_FILE`` and ``VERIFIED_MODELS_DIR`` (see the README).
    """

    model_config = SettingsConfigDict(
        frozen=True, case_sensitive=True, populate_by_name=True, extra="forbid"
    )

    models_dir: Path = Field(Path("models"), alias="MODELS_DIR")
    model_name: str = Field("{{ cookiecutter.__model_name }}", alias="MODEL_NAME")
    model_version: str = Field(LATEST, alias="MODEL_VERSION")
    model_version_from: str = "default (MODEL_VERSION unset)"
    """What set `model_version`, for the log: ``MODEL_VERSION`` or the default."""
    model_runtime: Runtime = Field("auto", alias="MODEL_RUNTIME")
    """``auto`` (the compiled model when the version has one, else the native one),
    ``onnx`` or ``native``; see `registry.load_served`."""
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    max_instances: int = Field(1000, alias="MAX_INSTANCES")
    pyproject: Path | None = Path("pyproject.toml")
    """The project file whose ``[tool.mlprod.thresholds]`` gate the model, when it exists;
    relative to the working directory, which uWSGI sets to the project's. Without it (an
    image holds no ``pyproject.toml``), the thresholds recorded in the manifest apply."""
    max_body_bytes: int = Field(1_048_576, alias="MAX_BODY_BYTES")
    """Larger request bodies are refused (413) before they are read."""
    body_timeout: float = Field(10.0, alias="BODY_TIMEOUT")
    """Seconds a request body may take to arrive; a slower one is refused (408)."""
    verified_dir: Path | None = Field(None, alias="VERIFIED_MODELS_DIR")
    """A folder only the server writes, emptied at its start, where the served version is
    copied once verified; workers started later load the copy (``selection.load_verified``).
    None: every load reads ``models_dir`` (uwsgi.ini sets ``VERIFIED_MODELS_DIR``)."""
    recycle_requests: int = Field(10_000, alias="RECYCLE_REQUESTS")
    """Requests after which a worker asks to be recycled (by touching ``recycle_file``)."""
    recycle_file: Path | None = Field(None, alias="RECYCLE_FILE")
    """uWSGI's ``touch-chain-reload`` file: touching it replaces the workers one at a time.
    None outside uWSGI (uwsgi.ini sets ``RECYCLE_FILE``)."""
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field((), alias="API_KEYS", repr=False)
    """When any, ``/v1/*`` needs one of them; never shown in a repr or a log. From
    ``API_KEYS`` (comma-separated) and ``API_KEYS_FILE`` (one a line)."""
    metrics_auth: bool = Field(False, alias="METRICS_AUTH")
    """Whether ``/metrics`` needs an API key too (health probes never do)."""
    metrics_dir: Path | None = Field(None, alias="PROMETHEUS_MULTIPROC_DIR")
    """prometheus-client's multi-process directory, which it reads from the environment
    itself (``PROMETHEUS_MULTIPROC_DIR``) when first imported; None for one process."""

    prediction_store: str | None = Field(None, alias="PREDICTION_STORE")
    """A Redis URL (``redis://HOST:PORT/DB``): ``/v1/predict`` answers the instances stored
    there (by ``predict-batch --to``) and asks the model for the rest. None: the model alone."""
    prediction_store_timeout: float = Field(0.05, alias="PREDICTION_STORE_TIMEOUT")
    """Seconds a store lookup may take (connecting included) before the model answers."""
    prediction_cache: int = Field(0, alias="PREDICTION_CACHE")
    """Entries of each worker's prediction cache (least recently used out); 0: no cache."""
    batch_max_size: int = Field(0, alias="BATCH_MAX_SIZE")
    """Rows one shared model call may take (micro-batching, see ``api/batching.py``);
    0: every request calls the model alone."""
    batch_max_wait_ms: float = Field(5.0, alias="BATCH_MAX_WAIT_MS")
    """At most this long a batch gathers the requests already waiting."""
    batch_timeout_ms: int = Field(1000, alias="BATCH_TIMEOUT_MS")
    """A request still waiting for the model this long after it joined is answered 503."""

    feedback_db: Path | None = Field(None, alias="FEEDBACK_DB")
    """The SQLite file joining ``POST /v1/feedback`` to predictions, shared by the workers;
    None: ``feedback.sqlite3`` in ``PROMETHEUS_MULTIPROC_DIR``, else in memory."""
    feedback_ttl: int = Field(7 * 24 * 3600, alias="FEEDBACK_TTL")
    """Seconds a prediction waits for its ground truth before it is forgotten."""
    feedback_max_rows: int = Field(500_000, alias="FEEDBACK_MAX_ROWS", ge=0)
    """Predictions remembered at most (about 100 bytes each); the oldest go first. 0: none
    (no ground truth expected; predictions then skip the join state's cost)."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_first_message(exc)) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Settings from environment variables, defaults for those unset."""
        values = _Environment(cls, environ)()
        if "MODEL_VERSION" in environ:
            values["model_version_from"] = "MODEL_VERSION"
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (by field name), checked as `Settings` checks its values."""
        return type(self)(**{**self.model_dump(), **changes})

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only what is passed in: the process environment is read by `from_env` alone."""
        return (init_settings,)

    @model_validator(mode="before")
    @classmethod
    def _keys_from_file(cls, data: Any) -> Any:
        """``API_KEYS_FILE``'s keys join ``API_KEYS``'s, into the one `api_keys` field."""
        if isinstance(data, dict) and ("API_KEYS" in data or "API_KEYS_FILE" in data):
            data = dict(data)
            data["API_KEYS"] = _api_keys(data.get("API_KEYS", ""), data.pop("API_KEYS_FILE", ""))
        return data

    @field_validator("model_name", "model_version", "log_level", mode="before")
    @classmethod
    def _non_empty(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise ValueError(f"{_variable(info)} must not be empty")
        return value

    @field_validator("model_version")
    @classmethod
    def _model_version(cls, value: str, info: ValidationInfo) -> str:
        if value != LATEST and not semver.Version.is_valid(value):
            raise ValueError(
                f"{_variable(info)} must be {LATEST!r} or a semantic version, got {value!r}"
            )
        return value

    @field_validator("model_runtime", mode="before")
    @classmethod
    def _model_runtime(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
        if value not in RUNTIMES:
            choices = ", ".join(RUNTIMES)
            raise ValueError(f"{_variable(info)} must be one of {choices}, got {value!r}")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str, info: ValidationInfo) -> str:
        value = value.upper()
        if value not in LOG_LEVELS:
            raise ValueError(
                f"{_variable(info)} must be one of {', '.join(LOG_LEVELS)}, got {value!r}"
            )
        return value

    @field_validator(
        "max_instances",
        "max_body_bytes",
        "body_timeout",
        "recycle_requests",
        "feedback_ttl",
        mode="before",
    )
    @classmethod
    def _positive_int(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and (not value.strip().isdigit() or int(value) < 1):
            raise ValueError(f"{_variable(info)} must be a positive integer, got {value!r}")
        return value

    @field_validator("prediction_cache", "batch_max_size", "feedback_max_rows", mode="before")
    @classmethod
    def _count(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and not value.strip().isdigit():
            raise ValueError(
                f"{_variable(info)} must be 0 (off) or a positive integer, got {value!r}"
            )
        if isinstance(value, int) and value < 0:
            raise ValueError(
                f"{_variable(info)} must be 0 (off) or a positive integer, got {value}"
            )
        return value

    @field_validator("batch_max_wait_ms")
    @classmethod
    def _batch_wait(cls, value: float, info: ValidationInfo) -> float:
        if not 0 <= value <= 1000:
            raise ValueError(
                f"{_variable(info)} must be milliseconds from 0 to 1000, got {value:g}"
            )
        return value

    @field_validator("batch_timeout_ms", mode="before")
    @classmethod
    def _batch_timeout(cls, value: Any, info: ValidationInfo) -> Any:
        number = value.strip() if isinstance(value, str) else value
        if isinstance(number, str) and not number.isdigit():
            raise ValueError(
                f"{_variable(info)} must be a positive number of milliseconds, got {value!r}"
            )
        if int(number) < 1:
            raise ValueError(
                f"{_variable(info)} must be a positive number of milliseconds, got {value!r}"
            )
        return value

    @field_validator("verified_dir", "recycle_file", "metrics_dir", "feedback_db", mode="before")
    @classmethod
    def _optional_path(cls, value: Any) -> Any:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("prediction_store", mode="before")
    @classmethod
    def _store_url(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        from .store.redis_store import StoreError, check_url

        try:
            return check_url(value.strip())
        except StoreError as exc:
            raise ValueError(f"{_variable(info)}: {exc}") from None

    @field_validator("prediction_store_timeout")
    @classmethod
    def _store_timeout(cls, value: float, info: ValidationInfo) -> float:
        if not 0 < value <= 10:
            raise ValueError(
                f"{_variable(info)} must be a number of seconds above 0 and at most 10, got {value}"
            )
        return value

    @field_validator("metrics_dir")
    @classmethod
    def _existing_directory(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(
                f"{_variable(info)} {value} is not a directory (uwsgi.ini creates it at start)"
            )
        return value

    @field_validator("metrics_auth", mode="before")
    @classmethod
    def _boolean(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        word = value.strip().lower()
        if not word:
            return False
        if word not in _TRUE + _FALSE:
            raise ValueError(f"{_variable(info)} must be true or false, got {value!r}")
        return word in _TRUE

    @model_validator(mode="after")
    def _metrics_auth_needs_a_key(self) -> Settings:
        if self.metrics_auth and not self.api_keys:
            raise ValueError("METRICS_AUTH needs API_KEYS or API_KEYS_FILE to hold a key")
        return self


class _Environment(PydanticBaseSettingsSource):
    """The variables of a given mapping, by the aliases of the settings' fields.

    pydantic-settings' own environment source reads ``os.environ``; the app is handed
    its environment instead (uWSGI's differs from ``os.environ``, and tests pass theirs).
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = field.alias or ""
        return self._environ.get(name), name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, name, _ = self.get_field_value(field, field_name)
            if field.alias is not None and value is not None:
                values[name] = value
        if "API_KEYS_FILE" in self._environ:
            values["API_KEYS_FILE"] = self._environ["API_KEYS_FILE"]
        return values


def _variable(info: ValidationInfo) -> str:
    """The environment variable a field is read from, for messages."""
    name = info.field_name or ""
    return Settings.model_fields[name].alias or name


def _first_message(error: ValidationError) -> str:
    """The message of a check above as written, else pydantic's naming the variable."""
    first = error.errors()[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, ValueError):
        return str(cause)
    where = ".".join(str(part) for part in first["loc"]) or "settings"
    return f"{where}: {first['msg']}"


def _api_keys(listed: Any, keys_file: str) -> tuple[str, ...]:
    """Keys from API_KEYS (comma-separated) and API_KEYS_FILE (one a line, # comments).

    A variable that is set but yields no key is an error, not a silently open API.
    """
    if not isinstance(listed, str):
        return tuple(listed)
    keys = [key.strip() for key in listed.split(",")]
    if listed.strip() and not any(keys):
        raise ValueError("API_KEYS holds no key; give comma-separated keys or unset it")
    path = keys_file.strip()
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"API_KEYS_FILE {path}: cannot read it ({exc})") from None
        from_file = [line.strip() for line in text.splitlines()]
        from_file = [line for line in from_file if line and not line.startswith("#")]
        if not from_file:
            raise ValueError(f"API_KEYS_FILE {path} holds no key (one a line)")
        keys += from_file
    unique = tuple(dict.fromkeys(key for key in keys if key))
    for key in unique:
        if not set(key) <= _KEY_CHARACTERS:
            raise ValueError(
                "API keys must be visible ASCII characters without spaces or commas; "
                f"one of {len(unique)} is not"
            )
    return unique


def process_environment() -> dict[str, str]:
    """Every environment variable as the C library holds it now; ``os.environ`` where unreadable.

    ``os.environ`` is a copy taken when Python started. Variables set in the C library
    after that (uWSGI's ``env =`` lines, under pyuwsgi, which starts Python first) are
    missing from it but not from this.
    """
    try:
        environ = ctypes.POINTER(ctypes.c_char_p).in_dll(ctypes.CDLL(None), "environ")
    except (OSError, ValueError):
        return dict(os.environ)
    entries = itertools.takewhile(bool, (environ[index] for index in itertools.count()))
    pairs = (os.fsdecode(entry).partition("=") for entry in entries)
    return {name: value for name, _, value in pairs}
