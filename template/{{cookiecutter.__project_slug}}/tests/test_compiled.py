"""Compiled inference: the ONNX model registered beside the native one, its gate, its runtime."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from falcon import testing
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from {{ cookiecutter.__package_name }} import cli
from {{ cookiecutter.__package_name }}.api.app import create_app
from {{ cookiecutter.__package_name }}.model import estimator, registry
from {{ cookiecutter.__package_name }}.model.base import InvalidInputError
from {{ cookiecutter.__package_name }}.model.compiled import (
    TOLERANCE,
    UNSEEN_CATEGORY,
    CompiledModel,
    compile_model,
    edge_cases,
)
from {{ cookiecutter.__package_name }}.model.errors import (
    IntegrityError,
    RegistryError,
)
from {{ cookiecutter.__package_name }}.model.manifest import CompiledArtifact
from {{ cookiecutter.__package_name }}.model.predictor import Predictor
from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.model.schema import (
    MISSING_STRING,
    Feature,
    InputSchema,
)
from {{ cookiecutter.__package_name }}.model.train import (
    Evaluation,
    ProjectConfig,
    evaluate,
)
from {{ cookiecutter.__package_name }}.settings import Settings, SettingsError


@pytest.fixture(scope="module")
def evaluation(project: ProjectConfig, seed: int) -> Evaluation:
    """The project's model fitted as `train` fits it, with its held-out rows."""
    return evaluate(project, seed=seed)


def within_tolerance(values: np.ndarray, native: np.ndarray) -> bool:
    bound = TOLERANCE["absolute"] + TOLERANCE["relative"] * np.abs(native)
    return bool((np.abs(values - native) <= bound).all())


def test_a_version_trained_with_the_defaults_is_compiled_and_passed_its_gate(
    compiled: CompiledArtifact, models_dir: Path, manifest: Manifest
) -> None:
    compiled = manifest.compiled
    assert compiled is not None, manifest.not_compiled
    assert manifest.not_compiled is None
    assert compiled.file == f"{manifest.name}-{manifest.version}.onnx"
    assert compiled.sha256 == registry.sha256_file(models_dir / compiled.file)
    assert compiled.precision in ("float32", "float64")
    assert (compiled.tolerance.absolute, compiled.tolerance.relative) == (
        TOLERANCE["absolute"],
        TOLERANCE["relative"],
    )
    # every held-out row, the example and at least two range ends per feature
    features = len(manifest.input_schema.features)
    assert compiled.rows_checked >= manifest.split.test_rows + 1 + 2 * features
    assert compiled.runtime.startswith("onnxruntime ")
    assert compiled.converter.startswith("skl2onnx ")


def test_the_compiled_model_answers_as_the_native_one_on_every_held_out_row(
    compiled: CompiledArtifact, models_dir: Path, manifest: Manifest, evaluation: Evaluation
) -> None:
    native = registry.load_served(
        models_dir, manifest.name, manifest.version, Predictor, runtime="native"
    )
    compiled = registry.load_served(
        models_dir, manifest.name, manifest.version, Predictor, runtime="onnx"
    )
    assert (native.runtime, compiled.runtime) == ("native", "onnx")
    assert isinstance(compiled.model, CompiledModel)
    rows = evaluation.held_out_rows
    if manifest.output.task == "classification":
        assert compiled.model.predict(rows).tolist() == native.model.predict(rows).tolist()
        assert compiled.model.classes == native.model.classes
        assert within_tolerance(
            compiled.model.predict_proba(rows), native.model.predict_proba(rows)
        )
    else:
        assert within_tolerance(compiled.model.predict(rows), native.model.predict(rows))


def test_auto_serves_the_compiled_model_and_native_insists(
    compiled: CompiledArtifact, models_dir: Path, manifest: Manifest
) -> None:
    auto = registry.load_served(models_dir, manifest.name, "latest", Predictor, runtime="auto")
    assert (auto.runtime, auto.artifact) == ("onnx", f"{manifest.name}-{manifest.version}.onnx")
    native = registry.load_served(models_dir, manifest.name, "latest", Predictor)
    assert isinstance(native.model, Predictor)


def test_a_tampered_compiled_file_is_refused_like_a_tampered_native_one(
    compiled: CompiledArtifact, models_dir: Path, manifest: Manifest, tmp_path: Path
) -> None:
    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    assert manifest.compiled is not None
    onnx = copy / manifest.compiled.file
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    for runtime in ("onnx", "auto", "native"):  # the version is not what its manifest says
        with pytest.raises(IntegrityError, match="does not match its manifest"):
            registry.load_served(copy, manifest.name, manifest.version, Predictor, runtime=runtime)


def test_model_runtime_onnx_refuses_a_version_without_a_compiled_model(
    compiled: CompiledArtifact, models_dir: Path, manifest: Manifest, tmp_path: Path
) -> None:
    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    path = registry.manifest_path(copy, manifest.name, manifest.version)
    registry.write_manifest(path, replace(manifest, compiled=None, not_compiled="convert: why"))
    with pytest.raises(RegistryError, match=r"has no compiled model \(convert: why\)"):
        registry.load_served(copy, manifest.name, manifest.version, Predictor, runtime="onnx")
    auto = registry.load_served(copy, manifest.name, manifest.version, Predictor, runtime="auto")
    assert auto.runtime == "native"


def test_the_compiled_model_refuses_what_the_native_one_refuses(
    compiled: CompiledArtifact, models_dir: Path, manifest: Manifest
) -> None:
    assert manifest.compiled is not None
    model = CompiledModel.load(models_dir / manifest.compiled.file)
    features = len(manifest.input_schema.features)
    with pytest.raises(InvalidInputError, match=f"expected rows of {features} features"):
        model.predict(np.zeros((1, features + 1)))
    row = np.zeros((1, features), dtype=manifest.input_schema.dtype)
    numeric = next(
        i for i, feature in enumerate(manifest.input_schema.features) if feature.type != "string"
    )
    row[0, numeric] = np.inf
    with pytest.raises(InvalidInputError, match="finite numbers"):
        model.predict(row)


def test_a_file_that_is_not_onnx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(Exception, match="is not an ONNX model ONNX Runtime can run"):
        CompiledModel.load(path)


def test_edge_cases_cover_range_ends_gaps_and_unseen_categories() -> None:
    schema = InputSchema(
        features=(
            Feature("size", "number", nullable=True),
            Feature("colour", "string", allowed=("red", "blue"), nullable=True),
        ),
        example={"size": 2.0, "colour": "red"},
    )
    training = np.array([[1.0, "red"], [5.0, "blue"], [np.nan, ""]], dtype=object)
    rows = edge_cases(schema, training).tolist()
    assert rows[0] == [2.0, "red"]
    assert [1.0, "red"] in rows
    assert [5.0, "red"] in rows
    assert [2.0, UNSEEN_CATEGORY] in rows
    assert [2.0, MISSING_STRING] in rows
    assert any(np.isnan(row[0]) and row[1] == MISSING_STRING for row in rows)


def unconvertible(kind: str, task: str) -> Any:
    """An estimator skl2onnx cannot convert: a custom FunctionTransformer in front of the
    project's own, or a HistGradientBoosting model (skl2onnx 1.20 fails on it)."""

    def build(params: dict[str, Any]) -> BaseEstimator:
        if kind == "function-transformer":
            return make_pipeline(FunctionTransformer(np.negative), original_build(params))
        if task == "classification":
            return HistGradientBoostingClassifier(max_iter=30)
        return HistGradientBoostingRegressor(max_iter=30)

    return build


original_build = estimator.build


@pytest.mark.parametrize("kind", ["function-transformer", "hist-gradient-boosting"])
def test_a_pipeline_that_does_not_convert_registers_serves_natively_and_train_says_why(
    kind: str,
    project: ProjectConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(estimator, "build", unconvertible(kind, project.task))
    monkeypatch.chdir(project.root)
    unchecked = replace(project, thresholds=replace(project.thresholds, bounds=()))
    monkeypatch.setattr(cli, "find_project_config", lambda: unchecked)
    models = tmp_path / "models"
    assert cli.main(["train", "--models-dir", str(models)]) == 0
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if line.strip().startswith("compiled")]
    manifest = registry.read_manifest(
        registry.manifest_path(models, project.model_name, project.model_version)
    )
    assert manifest.compiled is None
    assert manifest.not_compiled is not None
    assert line.split(None, 1)[1] == f"none: {manifest.not_compiled}"
    expected = "FunctionTransformer" if kind == "function-transformer" else "convert"
    assert manifest.not_compiled.startswith("convert (float32): ")
    assert expected in manifest.not_compiled
    assert sorted(path.name for path in models.iterdir()) == sorted(
        [manifest.artifact.file, f"{manifest.name}-{manifest.version}.json"]
    )
    settings = Settings(models_dir=models, model_name=manifest.name)
    served = registry.load_served(
        models, manifest.name, manifest.version, Predictor, runtime=settings.model_runtime
    )
    assert served.runtime == "native"
    rows = np.array(
        [[manifest.input_schema.example[name] for name in manifest.input_schema.names]],
        dtype=manifest.input_schema.dtype,
    )
    assert len(served.model.predict(rows)) == 1


def test_compile_model_never_raises_for_a_model_it_cannot_convert(
    evaluation: Evaluation,
) -> None:
    class Opaque(BaseEstimator):
        def predict(self, X: np.ndarray) -> np.ndarray:
            return np.zeros(len(X))

    pipeline = make_pipeline(Opaque())
    result = compile_model(
        pipeline,
        evaluation.dataset.schema,
        "regression",
        held_out=evaluation.held_out_rows,
        training=evaluation.training_rows,
    )
    assert result.onnx is None
    assert result.reason is not None
    assert "Opaque" in result.reason
    assert "\n" not in result.reason


def test_model_runtime_is_one_of_three_and_says_so() -> None:
    assert Settings().model_runtime == "auto"
    assert Settings.from_env({"MODEL_RUNTIME": "ONNX"}).model_runtime == "onnx"
    with pytest.raises(SettingsError, match="MODEL_RUNTIME must be one of auto, onnx, native"):
        Settings.from_env({"MODEL_RUNTIME": "tensorrt"})


@pytest.mark.parametrize("runtime", ["onnx", "native"])
def test_readiness_watches_both_artifacts_whichever_runtime_answers(
    compiled: CompiledArtifact, runtime: str, models_dir: Path, manifest: Manifest, tmp_path: Path
) -> None:
    copy = tmp_path / "models"
    shutil.copytree(models_dir, copy)
    settings = Settings(
        models_dir=copy,
        model_name=manifest.name,
        verified_dir=tmp_path / "verified",
        model_runtime=runtime,
    )
    client = testing.TestClient(create_app(settings))
    assert client.simulate_get("/health/ready").status_code == 200
    assert manifest.compiled is not None
    for file in (manifest.compiled.file, manifest.artifact.file):
        good = (copy / file).read_bytes()
        (copy / file).write_bytes(b"changed on disk")
        ready = client.simulate_get("/health/ready")
        assert ready.status_code == 503
        assert file in ready.json["error"]["message"]
        (copy / file).write_bytes(good)
        assert client.simulate_get("/health/ready").status_code == 200
