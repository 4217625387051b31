"""Settings come from a mapping passed in, with defaults and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.__package_name }}.settings import Settings, SettingsError


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
