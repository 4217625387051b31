"""Which version is served: the SERVING file over MODEL_VERSION, through every gate."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from {{ cookiecutter.__package_name }}.api.middleware import Recycler
from {{ cookiecutter.__package_name }}.model import selection
from {{ cookiecutter.__package_name }}.model.errors import RegistryError, ValidityError
from {{ cookiecutter.__package_name }}.model.manifest import Manifest
from {{ cookiecutter.__package_name }}.model.predictor import Predictor
from {{ cookiecutter.__package_name }}.model.selection import Choice

from contract import PROJECT, thresholds_table, unmet


def test_without_a_serving_file_the_configured_version_is_chosen(tmp_path: Path) -> None:
    assert selection.choose(tmp_path, "latest") == Choice("latest", "MODEL_VERSION")
    assert selection.choose(tmp_path, "1.2.0") == Choice("1.2.0", "MODEL_VERSION")


def test_the_serving_file_overrides_the_configured_version(tmp_path: Path) -> None:
    path = selection.record_choice(tmp_path, "0.1.0")
    assert path == tmp_path / "SERVING"
    assert path.read_text() == "0.1.0\n"
    assert selection.choose(tmp_path, "0.2.0") == Choice("0.1.0", str(path))
    assert [entry.name for entry in tmp_path.iterdir()] == ["SERVING"]


def test_a_serving_file_that_names_no_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "SERVING").write_text("yesterday's\n")
    with pytest.raises(RegistryError) as excinfo:
        selection.choose(tmp_path, "latest")
    assert str(excinfo.value) == (
        f"{tmp_path / 'SERVING'}: \"yesterday's\" is neither 'latest' nor a semantic version; "
        "rewrite it with `serve-version VERSION` or delete it"
    )


def test_load_chosen_follows_the_serving_file_and_the_project_thresholds(
    two_versions: Path, tmp_path: Path, manifest: Manifest
) -> None:
    models_dir = Path(shutil.copytree(two_versions, tmp_path / "models"))
    selection.record_choice(models_dir, "0.1.0")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(thresholds_table(PROJECT.thresholds.to_dict()))
    loaded, choice = selection.load_chosen(models_dir, manifest.name, "0.2.0", Predictor, pyproject)
    assert (loaded.manifest.version, choice.source) == ("0.1.0", str(models_dir / "SERVING"))
    bound, limit, violation = unmet(loaded.manifest.metrics)
    pyproject.write_text(thresholds_table({bound: limit}))
    with pytest.raises(ValidityError, match=violation):
        selection.load_chosen(models_dir, manifest.name, "0.2.0", Predictor, pyproject)
    pyproject.write_text("[tool.mlprod.thresholds]\nmin_accuracy = 'high'\n")
    with pytest.raises(RegistryError, match=f"^{pyproject}: .* must be a finite number"):
        selection.load_chosen(models_dir, manifest.name, "0.2.0", Predictor, pyproject)


# A switch that meets a running chain reload ------------------------------------------------
#
# uWSGI ignores a touch of a touch-chain-reload file while a chain reload runs, so a worker
# replaced before SERVING changed asks again until it is replaced itself (test_resilience
# shows it against a real uWSGI).


def test_each_touch_of_the_trigger_moves_it_on_by_a_whole_second(tmp_path: Path) -> None:
    trigger = tmp_path / "recycle"
    stamps = []
    for _ in range(3):
        selection.touch_trigger(trigger)
        stamps.append(int(trigger.stat().st_mtime))
    assert stamps[0] < stamps[1] < stamps[2]


def test_the_choice_watch_sees_serving_name_another_version_and_back(tmp_path: Path) -> None:
    watch = selection.ChoiceWatch(tmp_path, selection.choose(tmp_path, "0.1.0"), "0.1.0")
    assert watch.superseded() is None
    selection.record_choice(tmp_path, "0.2.0")
    assert watch.superseded() == "0.2.0"
    selection.record_choice(tmp_path, "0.1.0")
    assert watch.superseded() is None
    (tmp_path / "SERVING").unlink()
    assert watch.superseded() is None  # MODEL_VERSION again: 0.1.0


def test_the_choice_watch_takes_a_serving_file_written_while_the_worker_loaded(
    tmp_path: Path,
) -> None:
    selection.record_choice(tmp_path, "0.1.0")
    loaded = selection.choose(tmp_path, "latest")
    # rewritten with the same size in the same instant: the inode still tells
    selection.record_choice(tmp_path, "0.3.0")
    assert selection.ChoiceWatch(tmp_path, loaded, "latest").superseded() == "0.3.0"


def test_a_serving_file_that_names_no_version_is_no_reason_to_reload(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watch = selection.ChoiceWatch(tmp_path, selection.choose(tmp_path, "0.1.0"), "0.1.0")
    (tmp_path / "SERVING").write_text("tomorrow's\n")
    with caplog.at_level(logging.ERROR):
        assert watch.superseded() is None
    assert "cannot tell which version to serve" in caplog.text


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def answer(recycler: Recycler, times: int = 1) -> None:
    for _ in range(times):
        recycler.process_response(None, None, None, True)  # type: ignore[arg-type]


def mtime(path: Path) -> int:
    return int(path.stat().st_mtime) if path.exists() else 0


def test_a_worker_asks_at_recycle_requests_and_again_each_second_until_replaced(
    tmp_path: Path,
) -> None:
    trigger, clock = tmp_path / "recycle", Clock()
    recycler = Recycler(3, trigger, None, interval=1.0, clock=clock)
    answer(recycler, 2)
    assert not trigger.exists()
    answer(recycler)
    asked = mtime(trigger)
    assert asked > 0
    answer(recycler, 5)  # within the same second: one touch is enough
    assert mtime(trigger) == asked
    clock.now += 1.0  # uWSGI ignored it (a chain reload was running), and the worker is here
    answer(recycler)
    assert mtime(trigger) > asked


def test_a_worker_that_serves_a_version_no_longer_chosen_asks_until_replaced(
    tmp_path: Path,
) -> None:
    models, trigger, clock = tmp_path / "models", tmp_path / "recycle", Clock()
    models.mkdir()
    watch = selection.ChoiceWatch(models, selection.choose(models, "0.1.0"), "0.1.0")
    recycler = Recycler(10**9, trigger, watch, interval=1.0, clock=clock)
    answer(recycler, 10)
    assert not trigger.exists()
    selection.record_choice(models, "0.2.0")
    answer(recycler)
    assert not trigger.exists()  # noticed within a second, not on every request
    clock.now += 1.0
    answer(recycler)
    first = mtime(trigger)
    assert first > 0
    clock.now += 1.0
    answer(recycler)
    second = mtime(trigger)
    assert second > first
    selection.record_choice(models, "0.1.0")  # switched back before the worker was replaced
    clock.now += 1.0
    answer(recycler)
    assert mtime(trigger) == second


def test_a_worker_that_cannot_touch_the_trigger_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trigger, clock = tmp_path / "missing" / "recycle", Clock()
    recycler = Recycler(1, trigger, None, interval=1.0, clock=clock)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            answer(recycler)
            clock.now += 1.0
    warnings = [r for r in caplog.records if "cannot ask for the workers" in r.getMessage()]
    assert len(warnings) == 1
    assert "max-requests will recycle this worker" in warnings[0].getMessage()
    assert not trigger.exists()
