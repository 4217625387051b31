"""Service settings, passed to the app factory; never read from the environment at import."""

from __future__ import annotations

import ctypes
import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import semver

from .model.registry import LATEST

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A setting with an unusable value; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """What the service serves and how.

    Environment variables (see `from_env`): ``MODELS_DIR``, ``MODEL_NAME``,
    ``MODEL_VERSION`` (``latest`` or a semantic version), ``LOG_LEVEL``, ``MAX_INSTANCES``.
    ``MODEL_VERSION`` is the default choice: ``<models_dir>/SERVING``, written by
    ``serve-version``, takes precedence over it (see `selection.choose`).
    The API's own: ``MAX_BODY_BYTES``, ``BODY_TIMEOUT``, ``API_KEYS`` and ``API_KEYS_FILE``,
    ``METRICS_AUTH``, ``PROMETHEUS_MULTIPROC_DIR``; the server's: ``RECYCLE_REQUESTS``,
    ``RECYCLE_FILE`` and ``VERIFIED_MODELS_DIR`` (see the README).
    """

    models_dir: Path = Path("models")
    model_name: str = "{{ cookiecutter.__model_name }}"
    model_version: str = LATEST
    model_version_from: str = "default (MODEL_VERSION unset)"
    """What set `model_version`, for the log: ``MODEL_VERSION`` or the default."""
    log_level: str = "INFO"
    max_instances: int = 1000
    pyproject: Path | None = Path("pyproject.toml")
    """The project file whose ``[tool.mlprod.thresholds]`` gate the model, when it exists;
    relative to the working directory, which uWSGI sets to the project's. Without it (an
    image holds no ``pyproject.toml``), the thresholds recorded in the manifest apply."""
    max_body_bytes: int = 1_048_576
    """Larger request bodies are refused (413) before they are read."""
    body_timeout: float = 10.0
    """Seconds a request body may take to arrive; a slower one is refused (408)."""
    verified_dir: Path | None = None
    """A folder only the server writes, emptied at its start, where the served version is
    copied once verified; workers started later load the copy (``selection.load_verified``).
    None: every load reads ``models_dir`` (uwsgi.ini sets ``VERIFIED_MODELS_DIR``)."""
    recycle_requests: int = 10_000
    """Requests after which a worker asks to be recycled (by touching ``recycle_file``)."""
    recycle_file: Path | None = None
    """uWSGI's ``touch-chain-reload`` file: touching it replaces the workers one at a time.
    None outside uWSGI (uwsgi.ini sets ``RECYCLE_FILE``)."""
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    """When any, ``/v1/*`` needs one of them; never shown in a repr or a log."""
    metrics_auth: bool = False
    """Whether ``/metrics`` needs an API key too (health probes never do)."""
    metrics_dir: Path | None = None
    """prometheus-client's multi-process directory, which it reads from the environment
    itself (``PROMETHEUS_MULTIPROC_DIR``) when first imported; None for one process."""

    def __post_init__(self) -> None:
        if self.metrics_auth and not self.api_keys:
            raise SettingsError("METRICS_AUTH needs API_KEYS or API_KEYS_FILE to hold a key")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Settings from environment variables, defaults for those unset."""
        defaults = cls()
        return cls(
            models_dir=Path(environ.get("MODELS_DIR", str(defaults.models_dir))),
            model_name=_non_empty(environ, "MODEL_NAME", defaults.model_name),
            model_version=_model_version(environ, "MODEL_VERSION", defaults.model_version),
            model_version_from="MODEL_VERSION"
            if "MODEL_VERSION" in environ
            else defaults.model_version_from,
            log_level=_log_level(environ, "LOG_LEVEL", defaults.log_level),
            max_instances=_positive_int(environ, "MAX_INSTANCES", defaults.max_instances),
            max_body_bytes=_positive_int(environ, "MAX_BODY_BYTES", defaults.max_body_bytes),
            body_timeout=_positive_int(environ, "BODY_TIMEOUT", int(defaults.body_timeout)),
            verified_dir=_optional_path(environ, "VERIFIED_MODELS_DIR"),
            recycle_requests=_positive_int(environ, "RECYCLE_REQUESTS", defaults.recycle_requests),
            recycle_file=_optional_path(environ, "RECYCLE_FILE"),
            api_keys=_api_keys(environ),
            metrics_auth=_boolean(environ, "METRICS_AUTH", defaults.metrics_auth),
            metrics_dir=_metrics_dir(environ, "PROMETHEUS_MULTIPROC_DIR"),
        )


def _non_empty(environ: Mapping[str, str], key: str, default: str) -> str:
    value = environ.get(key, default).strip()
    if not value:
        raise SettingsError(f"{key} must not be empty")
    return value


def _model_version(environ: Mapping[str, str], key: str, default: str) -> str:
    value = _non_empty(environ, key, default)
    if value != LATEST and not semver.Version.is_valid(value):
        raise SettingsError(f"{key} must be {LATEST!r} or a semantic version, got {value!r}")
    return value


def _log_level(environ: Mapping[str, str], key: str, default: str) -> str:
    value = _non_empty(environ, key, default).upper()
    if value not in LOG_LEVELS:
        raise SettingsError(f"{key} must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return value


def _positive_int(environ: Mapping[str, str], key: str, default: int) -> int:
    raw = environ.get(key, str(default))
    if not raw.strip().isdigit() or int(raw) < 1:
        raise SettingsError(f"{key} must be a positive integer, got {raw!r}")
    return int(raw)


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
# Keys are header values: visible ASCII, no spaces or commas (API_KEYS separates with commas).
_KEY_CHARACTERS = frozenset(chr(code) for code in range(0x21, 0x7F)) - {","}


def _boolean(environ: Mapping[str, str], key: str, default: bool) -> bool:
    raw = environ.get(key)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value not in _TRUE + _FALSE:
        raise SettingsError(f"{key} must be true or false, got {raw!r}")
    return value in _TRUE


def _api_keys(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Keys from API_KEYS (comma-separated) and API_KEYS_FILE (one a line, # comments).

    A variable that is set but yields no key is an error, not a silently open API.
    """
    keys = [key.strip() for key in environ.get("API_KEYS", "").split(",")]
    if environ.get("API_KEYS", "").strip() and not any(keys):
        raise SettingsError("API_KEYS holds no key; give comma-separated keys or unset it")
    path = environ.get("API_KEYS_FILE", "").strip()
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"API_KEYS_FILE {path}: cannot read it ({exc})") from None
        from_file = [line.strip() for line in text.splitlines()]
        from_file = [line for line in from_file if line and not line.startswith("#")]
        if not from_file:
            raise SettingsError(f"API_KEYS_FILE {path} holds no key (one a line)")
        keys += from_file
    unique = tuple(dict.fromkeys(key for key in keys if key))
    for key in unique:
        if not set(key) <= _KEY_CHARACTERS:
            raise SettingsError(
                "API keys must be visible ASCII characters without spaces or commas; "
                f"one of {len(unique)} is not"
            )
    return unique


def _optional_path(environ: Mapping[str, str], key: str) -> Path | None:
    raw = environ.get(key, "").strip()
    return Path(raw) if raw else None


def _metrics_dir(environ: Mapping[str, str], key: str) -> Path | None:
    raw = environ.get(key, "").strip()
    if not raw:
        return None
    path = Path(raw)
    if not path.is_dir():
        raise SettingsError(f"{key} {raw} is not a directory (uwsgi.ini creates it at start)")
    return path


def process_environment() -> dict[str, str]:
    """Every environment variable as the C library holds it now; ``os.environ`` where unreadable.

    ``os.environ`` is a copy taken when Python started. Variables set in the C library
    after that (uWSGI's ``env =`` lines, under pyuwsgi, which starts Python first) are
    missing from it but not from this.
    """
    try:
        entries = ctypes.POINTER(ctypes.c_char_p).in_dll(ctypes.CDLL(None), "environ")
    except (OSError, ValueError):
        return dict(os.environ)
    pairs = (os.fsdecode(entry).partition("=") for entry in itertools.takewhile(bool, entries))
    return {name: value for name, _, value in pairs}
