"""predict-batch, local engine: the API's answers and refusals, for files of rows.

The project's own data, as a CSV or Parquet file with an id column, is scored by the
command line and compared with what ``/v1/predict`` answers for the same instances.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from falcon import testing

from {{ cookiecutter.__package_name }} import cli
from {{ cookiecutter.__package_name }}.model.registry import Manifest

from contract import CLASSIFIER, FEATURES, NUMBER, PROJECT, instances

ID = "_row"
"""The id column: a name training never takes as a feature (it starts with ``_``)."""


@pytest.fixture(autouse=True)
def _in_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT.root)


@pytest.fixture
def trained(models_dir: Path, manifest: Manifest) -> Path:
    """The session's registry, the project's model version trained into it."""
    return models_dir


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """The data's instances, an id column first (``r0``, ``r1``...)."""
    frame = pd.DataFrame(instances(1000), columns=[f.name for f in FEATURES])
    frame.insert(0, ID, [f"r{index}" for index in range(len(frame))])
    return frame


def batch(
    capsys: pytest.CaptureFixture[str], trained: Path, *arguments: str | Path
) -> tuple[int, str, str]:
    """Run ``predict-batch`` in process: exit code, standard output, standard error."""
    code = cli.main(["predict-batch", *map(str, arguments), "--models-dir", str(trained)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={ID: str})
    return pd.read_parquet(path)


def api_answers(client: testing.TestClient, batch_rows: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"instances": batch_rows}
    if CLASSIFIER:
        body["return_probabilities"] = True
    result = client.simulate_post("/v1/predict", json=body)
    assert result.status_code == 200, result.json
    return result.json


def as_instances(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a frame as request instances (null where a value is missing)."""
    features = frame[[f.name for f in FEATURES]].astype(object)
    return features.where(features.notna(), None).to_dict("records")


@pytest.mark.parametrize(("source", "target"), [("csv", "parquet"), ("parquet", "csv")])
def test_batch_answers_are_the_apis(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    rows: pd.DataFrame,
    trained: Path,
    manifest: Manifest,
    client: testing.TestClient,
    source: str,
    target: str,
) -> None:
    input_path = tmp_path / f"rows.{source}"
    if source == "csv":
        rows.to_csv(input_path, index=False)
    else:
        rows.to_parquet(input_path, index=False)
    output = tmp_path / f"scores.{target}"
    code, out, err = batch(capsys, trained, input_path, output, "--id-column", ID)
    assert code == 0, err
    assert f"{len(rows)} predictions, 0 rejected" in out
    scored = read(output)
    assert scored[ID].tolist() == rows[ID].tolist()
    assert set(scored["model_name"]) == {manifest.name}
    assert set(scored["model_version"]) == {manifest.version}
    answer = api_answers(client, as_instances(rows))
    predictions = scored["prediction"].tolist()
    if not CLASSIFIER:
        assert predictions == answer["predictions"]
        return
    classes = [str(label) for label in manifest.output.classes]
    assert [str(value) for value in predictions] == [str(value) for value in answer["predictions"]]
    probabilities = scored[[f"probability_{label}" for label in classes]].to_numpy()
    assert probabilities.tolist() == [[row[c] for c in classes] for row in answer["probabilities"]]
    assert read(tmp_path / f"scores.rejects.{target}").empty


def test_rows_the_api_would_refuse_are_rejected_with_its_reason(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    rows: pd.DataFrame,
    trained: Path,
    client: testing.TestClient,
) -> None:
    text = rows.astype(object)
    text.loc[2, NUMBER.name] = "abc"
    text.loc[5, NUMBER.name] = "1e300"
    text.loc[7, NUMBER.name] = None
    input_path = tmp_path / "rows.csv"
    text.to_csv(input_path, index=False)
    output = tmp_path / "scores.csv"
    code, out, err = batch(capsys, trained, input_path, output, "--id-column", ID)
    assert code == 0, err
    refused = [2, 5] + ([] if NUMBER.nullable else [7])
    rejects = read(tmp_path / "scores.rejects.csv")
    assert rejects[ID].tolist() == [f"r{index}" for index in refused]
    reasons = dict(zip(rejects[ID], rejects["reason"], strict=True))
    assert reasons["r2"] == f"{NUMBER.name}: 'abc' is not a number"
    # the API's own message for the same instance, word for word
    too_large = as_instances(rows.iloc[[5]])[0] | {NUMBER.name: 1e300}
    result = client.simulate_post("/v1/predict", json={"instances": [too_large]})
    assert result.status_code == 422
    assert result.json["error"]["message"] == f"instances[0].{reasons['r5']}"
    scored = read(output)
    assert len(scored) == len(rows) - len(refused)
    assert f"{len(rows) - len(refused)} predictions, {len(refused)} rejected" in out


def test_json_summary_counts_rows_and_rejects(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rows: pd.DataFrame, trained: Path
) -> None:
    text = rows.astype(object)
    text.loc[0, NUMBER.name] = "not a number"
    text.to_csv(tmp_path / "rows.csv", index=False)
    code, out, err = batch(
        capsys, trained, tmp_path / "rows.csv", tmp_path / "scores.parquet", "--json"
    )
    assert code == 0, err
    summary = json.loads(out)
    counts = (summary["rows"], summary["scored"], summary["rejected"])
    assert counts == (len(rows), len(rows) - 1, 1)
    assert summary["engine"] == "local"
    assert summary["stored"] is None
    assert summary["rows_per_second"] > 0
    assert not math.isnan(summary["seconds"])


def refused(capsys: pytest.CaptureFixture[str], trained: Path, *arguments: str | Path) -> str:
    """The one line a refused run prints on standard error."""
    code, out, err = batch(capsys, trained, *arguments)
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_a_missing_column_is_one_line_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rows: pd.DataFrame, trained: Path
) -> None:
    missing = FEATURES[-1].name
    rows.drop(columns=[missing]).to_csv(tmp_path / "rows.csv", index=False)
    error = refused(capsys, trained, tmp_path / "rows.csv", tmp_path / "scores.csv")
    assert f"no column {missing!r}" in error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rows.csv"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", "empty file"), (b"a,b\n", "no rows under the header")],
    ids=["empty", "header-only"],
)
def test_an_empty_file_is_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    trained: Path,
    content: bytes,
    expected: str,
) -> None:
    (tmp_path / "rows.csv").write_bytes(content)
    error = refused(capsys, trained, tmp_path / "rows.csv", tmp_path / "scores.csv")
    assert expected in error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rows.csv"]


def test_an_unreadable_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, trained: Path
) -> None:
    (tmp_path / "rows.parquet").write_bytes(b"this is not a parquet file\n" * 10)
    error = refused(capsys, trained, tmp_path / "rows.parquet", tmp_path / "scores.csv")
    assert "rows.parquet: unreadable" in error
    error = refused(capsys, trained, tmp_path / "absent.csv", tmp_path / "scores.csv")
    assert "no such input file" in error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rows.parquet"]


def test_an_existing_output_is_kept_unless_overwrite(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rows: pd.DataFrame, trained: Path
) -> None:
    rows.to_csv(tmp_path / "rows.csv", index=False)
    output = tmp_path / "scores.csv"
    output.write_text("earlier results\n")
    error = refused(capsys, trained, tmp_path / "rows.csv", output)
    assert "exists; pass --overwrite" in error
    assert output.read_text() == "earlier results\n"
    code, _, err = batch(capsys, trained, tmp_path / "rows.csv", output, "--overwrite")
    assert code == 0, err
    assert len(read(output)) == len(rows)


def test_a_file_that_breaks_midway_leaves_nothing_half_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rows: pd.DataFrame, trained: Path
) -> None:
    """A malformed line past the first chunk (1 MiB): the run fails after writing chunks,
    and neither the output nor a temporary file is left."""
    text = rows.to_csv(index=False)
    header, _, body = text.partition("\n")
    repeats = (5 << 20) // len(body) + 1
    (tmp_path / "rows.csv").write_text(
        header + "\n" + body * repeats + "too,many,fields" + ",x" * len(FEATURES) + "\n"
    )
    error = refused(capsys, trained, tmp_path / "rows.csv", tmp_path / "scores.parquet")
    assert "rows.csv: unreadable" in error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rows.csv"]


def test_an_id_column_the_file_lacks_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rows: pd.DataFrame, trained: Path
) -> None:
    rows.to_csv(tmp_path / "rows.csv", index=False)
    error = refused(
        capsys, trained, tmp_path / "rows.csv", tmp_path / "s.csv", "--id-column", "cust"
    )
    assert "no column 'cust'" in error
    assert "--id-column" in error


def test_options_that_need_another_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rows: pd.DataFrame, trained: Path
) -> None:
    rows.to_csv(tmp_path / "rows.csv", index=False)
    arguments = (tmp_path / "rows.csv", tmp_path / "s.csv")
    assert "--ttl needs --to" in refused(capsys, trained, *arguments, "--ttl", "60")
    assert "--master needs --engine spark" in refused(
        capsys, trained, *arguments, "--master", "spark://127.0.0.1:7077"
    )
    assert "redis://" in refused(capsys, trained, *arguments, "--to", "http://cache:6379")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rows.csv"]


def test_the_spark_engine_without_pyspark_is_one_line_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    rows: pd.DataFrame,
    trained: Path,
) -> None:
    """Without the spark extra (pyspark's modules unimportable, as in a project installed
    without it), `--engine spark` says what to install."""
    for module in ("py4j.protocol", "pyspark.errors", "pyspark.sql"):
        monkeypatch.setitem(sys.modules, module, None)  # None: `import` raises ImportError
    rows.to_csv(tmp_path / "rows.csv", index=False)
    error = refused(capsys, trained, tmp_path / "rows.csv", tmp_path / "s.csv", "--engine", "spark")
    assert "--engine spark needs pyspark" in error
    assert "'.[spark]'" in error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rows.csv"]
