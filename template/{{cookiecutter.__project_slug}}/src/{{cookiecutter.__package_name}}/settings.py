"""Service settings, passed to the app factory; never read from the environment at import."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
    """

    models_dir: Path = Path("models")
    model_name: str = "{{ cookiecutter.__model_name }}"
    model_version: str = LATEST
    log_level: str = "INFO"
    max_instances: int = 1000

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Settings from environment variables, defaults for those unset."""
        defaults = cls()
        return cls(
            models_dir=Path(environ.get("MODELS_DIR", str(defaults.models_dir))),
            model_name=_non_empty(environ, "MODEL_NAME", defaults.model_name),
            model_version=_model_version(environ, "MODEL_VERSION", defaults.model_version),
            log_level=_log_level(environ, "LOG_LEVEL", defaults.log_level),
            max_instances=_positive_int(environ, "MAX_INSTANCES", defaults.max_instances),
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
