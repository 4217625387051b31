"""Settings come from a mapping passed in, with defaults and clear errors."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from {{ cookiecutter.__package_name }}.settings import (
    Settings,
    SettingsError,
    process_environment,
)


def test_defaults_apply_when_nothing_is_set() -> None:
    assert Settings.from_env({}) == Settings()
    assert Settings() == Settings(
        models_dir=Path("models"),
        model_name="{{ cookiecutter.__model_name }}",
        model_version="latest",
        log_level="INFO",
        max_instances=1000,
    )


def test_every_setting_is_read_from_its_variable() -> None:
    environ = {
        "MODELS_DIR": "/srv/models",
        "MODEL_NAME": "other",
        "MODEL_VERSION": "1.2.0-rc.1",
        "LOG_LEVEL": "debug",
        "MAX_INSTANCES": "50",
    }
    assert Settings.from_env(environ) == Settings(
        models_dir=Path("/srv/models"),
        model_name="other",
        model_version="1.2.0-rc.1",
        model_version_from="MODEL_VERSION",
        log_level="DEBUG",
        max_instances=50,
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"MODEL_VERSION": "1.2"},
            "MODEL_VERSION must be 'latest' or a semantic version, got '1.2'",
        ),
        ({"MODEL_NAME": " "}, "MODEL_NAME must not be empty"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ({"MAX_INSTANCES": "many"}, "MAX_INSTANCES must be a positive integer, got 'many'"),
        ({"MAX_INSTANCES": "0"}, "MAX_INSTANCES must be a positive integer, got '0'"),
    ],
    ids=["version", "name", "log-level", "not-a-number", "zero"],
)
def test_a_bad_value_names_its_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(environ)


def test_settings_read_no_variable_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Configuration is passed in: only `from_env` reads variables, from what it is given."""
    monkeypatch.setenv("MODEL_VERSION", "9.9.9")
    monkeypatch.setenv("MAX_INSTANCES", "many")
    assert Settings().model_version == "latest"
    assert Settings.from_env({}).max_instances == 1000


def test_replace_checks_the_new_values() -> None:
    assert Settings().replace(log_level="debug").log_level == "DEBUG"
    with pytest.raises(SettingsError, match="METRICS_AUTH needs API_KEYS or API_KEYS_FILE"):
        Settings().replace(metrics_auth=True)


# The API's settings: body limit, API keys, metrics ---------------------------------------


def test_the_api_settings_are_read_from_their_variables(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("# rotated 2024-05\nkey-from-file\n\nkey-two\n")
    environ = {
        "MAX_BODY_BYTES": "2048",
        "API_KEYS": " key-one , key-two ",
        "API_KEYS_FILE": str(keys_file),
        "METRICS_AUTH": "true",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    settings = Settings.from_env(environ)
    assert settings.max_body_bytes == 2048
    assert settings.api_keys == ("key-one", "key-two", "key-from-file")
    assert settings.metrics_auth is True
    assert settings.metrics_dir == tmp_path


def test_the_api_settings_default_to_an_open_single_process_service() -> None:
    settings = Settings.from_env({})
    assert (settings.max_body_bytes, settings.api_keys) == (1_048_576, ())
    assert (settings.metrics_auth, settings.metrics_dir) == (False, None)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MAX_BODY_BYTES": "1MB"}, "MAX_BODY_BYTES must be a positive integer, got '1MB'"),
        ({"API_KEYS": " , "}, "API_KEYS holds no key; give comma-separated keys or unset it"),
        (
            {"API_KEYS": "has space"},
            "API keys must be visible ASCII characters without spaces or commas; one of 1 is not",
        ),
        ({"API_KEYS_FILE": "/no/such/file"}, "API_KEYS_FILE /no/such/file: cannot read it"),
        ({"METRICS_AUTH": "sometimes"}, "METRICS_AUTH must be true or false, got 'sometimes'"),
        ({"METRICS_AUTH": "yes"}, "METRICS_AUTH needs API_KEYS or API_KEYS_FILE to hold a key"),
        (
            {"PROMETHEUS_MULTIPROC_DIR": "/no/such/dir"},
            "PROMETHEUS_MULTIPROC_DIR /no/such/dir is not a directory (uwsgi.ini creates it",
        ),
    ],
    ids=["body-limit", "no-key", "bad-key", "no-keys-file", "not-a-boolean", "auth-no-key", "dir"],
)
def test_a_bad_api_setting_names_its_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(environ)


def test_an_empty_keys_file_is_refused(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("# no key yet\n")
    with pytest.raises(SettingsError, match=re.escape(f"API_KEYS_FILE {keys_file} holds no key")):
        Settings.from_env({"API_KEYS_FILE": str(keys_file)})


def test_the_process_environment_includes_variables_set_after_python_started() -> None:
    """What uwsgi.ini's `env =` lines do under pyuwsgi: the C library has it, os.environ not."""
    name = "PROCESS_ENVIRONMENT_TEST_VARIABLE"
    os.putenv(name, "set-late")
    try:
        assert name not in os.environ
        assert process_environment()[name] == "set-late"
    finally:
        os.unsetenv(name)
