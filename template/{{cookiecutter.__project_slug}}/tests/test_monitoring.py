"""Drift, ground-truth feedback and the drift report, in one process.

tests/test_prometheus.py serves the same under uWSGI to a real Prometheus.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from falcon import testing
from sklearn import metrics as sk

from {{ cookiecutter.__package_name }}.api.app import create_app
from {{ cookiecutter.__package_name }}.api.feedback import FeedbackStore
from {{ cookiecutter.__package_name }}.cli import main
from {{ cookiecutter.__package_name }}.model import registry
from {{ cookiecutter.__package_name }}.model.manifest import Manifest, read_manifest
from {{ cookiecutter.__package_name }}.model.profile import NumericProfile
from {{ cookiecutter.__package_name }}.model.train import ProjectConfig, evaluate
from {{ cookiecutter.__package_name }}.settings import Settings, SettingsError
from test_metrics import samples

from contract import CLASSIFIER, DATASET, FEATURES, NUMBER, PROJECT

SHIFTED = NUMBER.name
FEEDBACK_ROWS = 200


def held_out(seed: int) -> list[dict[str, Any]]:
    """The held-out rows of the split training made with ``seed``, as request instances."""
    rows = evaluate(PROJECT, seed=seed).held_out_rows
    return [{f.name: _json(row[i], f.type) for i, f in enumerate(FEATURES)} for row in rows]


def _json(value: Any, kind: str) -> Any:
    if kind == "string":
        return value or None
    if np.isnan(value):
        return None
    return int(value) if kind == "integer" else float(value)


def shifted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with one numeric feature scaled by 3."""
    return [{**row, SHIFTED: None if row[SHIFTED] is None else row[SHIFTED] * 3} for row in rows]


@pytest.fixture
def client(settings: Settings) -> testing.TestClient:
    return testing.TestClient(create_app(settings))


def scrape(client: testing.TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return samples(client.simulate_get("/metrics").text)


def by_feature(found: dict[Any, float], name: str) -> dict[str, float]:
    return {
        dict(labels)["feature"]: value
        for (metric, labels), value in found.items()
        if metric == name
    }


def predict_each(client: testing.TestClient, rows: list[dict[str, Any]], prefix: str) -> list[Any]:
    """One request per row, with request ids ``<prefix>-<n>``; the predictions."""
    answers = []
    for number, row in enumerate(rows):
        result = client.simulate_post(
            "/v1/predict", json={"instances": [row]}, headers={"X-Request-ID": f"{prefix}-{number}"}
        )
        assert result.status_code == 200, result.text
        answers.append(result.json["predictions"][0])
    return answers


def test_training_records_a_profile_of_the_features_and_predictions(manifest: Manifest) -> None:
    profile = manifest.profile
    assert profile is not None
    assert list(profile.features) == [f.name for f in FEATURES]
    assert profile.rows == manifest.split.train_rows
    for feature in FEATURES:
        column = profile.features[feature.name]
        assert column.count + column.missing == profile.rows
        if isinstance(column, NumericProfile):
            assert column.min <= column.quantiles["0.5"] <= column.max
            assert len(column.shares) == len(column.edges) + 1
            assert sum(column.shares) == pytest.approx(1, abs=1e-4)
    assert profile.predictions.count == manifest.split.test_rows


def test_a_manifest_from_before_profiles_still_reads(
    models_dir: Path, manifest: Manifest, tmp_path: Path
) -> None:
    source = registry.manifest_path(models_dir, manifest.name, manifest.version)
    data = json.loads(source.read_text())
    del data["profile"]
    path = tmp_path / source.name
    path.write_text(json.dumps(data))
    assert read_manifest(path).profile is None


def test_a_shifted_feature_crosses_the_threshold_and_no_other_does(
    client: testing.TestClient, seed: int
) -> None:
    assert client.simulate_post("/v1/predict", json={"instances": shifted(held_out(seed))}).json
    found = scrape(client)
    scores = by_feature(found, "model_feature_drift_psi")
    limits = by_feature(found, "model_feature_drift_threshold")
    drifted = [name for name in scores if scores[name] > limits[name]]
    assert drifted == [SHIFTED], (scores, limits)


def test_unshifted_held_out_rows_stay_under_the_threshold(
    client: testing.TestClient, seed: int
) -> None:
    client.simulate_post("/v1/predict", json={"instances": held_out(seed)})
    found = scrape(client)
    scores = by_feature(found, "model_feature_drift_psi")
    limits = by_feature(found, "model_feature_drift_threshold")
    assert set(scores) == {f.name for f in FEATURES}
    assert all(scores[name] <= limits[name] for name in scores), (scores, limits)
    [(_, prediction_psi)] = [
        (key, value) for key, value in found.items() if key[0] == "model_prediction_drift_psi"
    ]
    [(_, prediction_limit)] = [
        (key, value) for key, value in found.items() if key[0] == "model_prediction_drift_threshold"
    ]
    assert prediction_psi <= prediction_limit


def test_out_of_range_values_are_counted_per_feature(
    client: testing.TestClient, manifest: Manifest
) -> None:
    assert manifest.profile is not None
    column = manifest.profile.features[SHIFTED]
    assert isinstance(column, NumericProfile)
    row = held_out(0)[0]
    too_big = column.max + abs(column.max) + 1
    client.simulate_post("/v1/predict", json={"instances": [{**row, SHIFTED: too_big}] * 3})
    found = by_feature(scrape(client), "model_feature_out_of_range_total")
    assert found[SHIFTED] == 3


def _feedback_body(prefix: str, truths: list[Any]) -> dict[str, Any]:
    field = "label" if CLASSIFIER else "value"
    return {
        "feedback": [
            {"request_id": f"{prefix}-{n}", field: truth} for n, truth in enumerate(truths)
        ]
    }


def _offline(predicted: list[Any], truths: list[Any]) -> dict[str, float]:
    if CLASSIFIER:
        return {"accuracy": sk.accuracy_score(truths, predicted)}
    return {
        "mae": sk.mean_absolute_error(truths, predicted),
        "rmse": sk.root_mean_squared_error(truths, predicted),
        "r2": sk.r2_score(truths, predicted),
    }


def test_feedback_gives_the_offline_quality_per_version(
    two_versions: Path, project: ProjectConfig, tmp_path: Path
) -> None:
    """200 predictions, half by each version; their labels sent to one version's service."""
    database = tmp_path / "feedback.sqlite3"
    clients = {
        version: testing.TestClient(
            create_app(
                Settings(
                    models_dir=two_versions,
                    model_name=project.model_name,
                    model_version=version,
                    feedback_db=database,
                )
            )
        )
        for version in ("0.1.0", "0.2.0")
    }
    rows = [(n % len(DATASET.y)) for n in range(FEEDBACK_ROWS)]
    instances = [
        {f.name: _json(DATASET.X[row, i], f.type) for i, f in enumerate(FEATURES)} for row in rows
    ]
    labels = DATASET.y.tolist()
    truths = [labels[row] for row in rows]
    half = FEEDBACK_ROWS // 2
    predicted = {
        "0.1.0": predict_each(clients["0.1.0"], instances[:half], "v1"),
        "0.2.0": predict_each(clients["0.2.0"], instances[half:], "v2"),
    }
    receiver = clients["0.1.0"]
    for prefix, part in (("v1", truths[:half]), ("v2", truths[half:])):
        result = receiver.simulate_post("/v1/feedback", json=_feedback_body(prefix, part))
        assert result.status_code == 200, result.text
        assert result.json == {"accepted": half}
    found = scrape(receiver)
    for version, part in (("0.1.0", truths[:half]), ("0.2.0", truths[half:])):
        assert found[("model_feedback_total", (("version", version),))] == half
        for metric, value in _offline(predicted[version], part).items():
            live = found[("model_live_quality", (("metric", metric), ("version", version)))]
            assert live == pytest.approx(value, rel=1e-9, abs=1e-9), (version, metric)


@pytest.fixture
def predicted(client: testing.TestClient) -> Any:
    return predict_each(client, held_out(0)[:3], "fb")


def test_feedback_for_an_unknown_request_id_is_a_404(
    client: testing.TestClient, predicted: list[Any]
) -> None:
    field = "label" if CLASSIFIER else "value"
    result = client.simulate_post(
        "/v1/feedback", json={"request_id": "never-made", field: predicted[0]}
    )
    assert result.status_code == 404
    assert result.json["error"]["code"] == "unknown_prediction"
    assert "'never-made'" in result.json["error"]["message"]


def test_feedback_twice_for_one_prediction_is_a_409_and_a_batch_is_all_or_nothing(
    client: testing.TestClient, predicted: list[Any]
) -> None:
    field = "label" if CLASSIFIER else "value"
    first = client.simulate_post("/v1/feedback", json={"request_id": "fb-0", field: predicted[0]})
    assert first.status_code == 200
    again = client.simulate_post(
        "/v1/feedback",
        json={
            "feedback": [
                {"request_id": "fb-1", field: predicted[1]},
                {"request_id": "fb-0", field: predicted[0]},
            ]
        },
    )
    assert again.status_code == 409
    assert again.json["error"]["message"].startswith("feedback[1]: ")
    # fb-1 was not taken: the batch was refused whole
    alone = client.simulate_post("/v1/feedback", json={"request_id": "fb-1", field: predicted[1]})
    assert alone.status_code == 200
    assert scrape(client)[("model_feedback_total", (("version", PROJECT.model_version),))] == 2


def test_feedback_of_the_wrong_type_is_a_422_naming_the_field(
    client: testing.TestClient, predicted: list[Any]
) -> None:
    field, wrong = ("label", "value") if CLASSIFIER else ("value", "label")
    bad_truth = 12345.5 if CLASSIFIER else "not a number"
    result = client.simulate_post("/v1/feedback", json={"request_id": "fb-0", field: bad_truth})
    assert result.status_code == 422
    assert result.json["error"]["message"].startswith(f"{field}: must be")
    result = client.simulate_post("/v1/feedback", json={"request_id": "fb-0", wrong: 1})
    assert result.status_code == 422
    assert result.json["error"]["message"].startswith(f"{wrong}: this model is")
    result = client.simulate_post("/v1/feedback", json={"feedback": [{field: predicted[0]}]})
    assert result.status_code == 422
    assert result.json["error"]["message"].startswith("feedback[0].request_id: required")
    # an index no request can have (schemathesis once found 2**112 overflowing SQLite: a 500)
    for index in (-1, 2**112):
        body = {"request_id": "fb-0", "index": index, field: predicted[0]}
        result = client.simulate_post("/v1/feedback", json=body)
        assert result.status_code == 422, result.json
        assert result.json["error"]["message"].startswith("index: must be the instance's position")


def test_the_join_state_forgets_past_its_ttl_and_its_row_limit(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "join.sqlite3", ttl=3600, max_rows=5)
    for number in range(8):
        store.record(f"r{number}", "1.0.0", ["a"])
    store.prune()
    found = store.answer([(f"r{number}", 0) for number in range(3, 8)])
    assert all(entry is not None for entry in found)
    assert store.answer([("r0", 0)]) == [None]
    expired = FeedbackStore(tmp_path / "expired.sqlite3", ttl=0, max_rows=5)
    expired.record("old", "1.0.0", ["a"])
    assert expired.answer([("old", 0)]) == [None]


def test_the_drift_command_names_the_shifted_feature_from_the_log(
    settings: Settings, models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "service.log"
    with log.open("wb") as stream:
        client = testing.TestClient(create_app(settings, log_stream=stream))
        predict_each(client, shifted(held_out(0)), "drift")
    html = tmp_path / "drift.html"
    code = main(["drift", str(log), "--json", "--html", str(html), "--models-dir", str(models_dir)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["drifted"] == [SHIFTED]
    assert {column["name"] for column in report["features"]} == {f.name for f in FEATURES}
    page = html.read_text()
    assert page.count("<svg") == len(FEATURES) + 1  # the features and the predictions
    assert "drifted" in page
    main(["drift", str(log), "--models-dir", str(models_dir)])
    table = capsys.readouterr().out
    assert re.search(rf"^{re.escape(SHIFTED)}\s+\S+\s+\S+\s+drifted", table, re.MULTILINE)
    assert table.rstrip().endswith(f"drifted: {SHIFTED}")


def test_the_drift_command_reads_a_data_file(
    data_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["drift", str(data_path), "--json", "--models-dir", str(models_dir)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["drifted"] == []


def test_the_drift_command_refuses_a_log_without_predictions(
    tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "empty.log"
    log.write_text('{"message": "model loaded"}\n')
    assert main(["drift", str(log), "--models-dir", str(models_dir)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {log}: no logged prediction")


_PROMQL_WORDS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "irate",
    "increase",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "histogram_quantile",
    "absent",
    "le",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers, ranges, groupings dropped)."""
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return words - _PROMQL_WORDS


def test_the_dashboard_and_alerts_query_metrics_the_service_exposes(
    client: testing.TestClient, project: ProjectConfig
) -> None:
    """Every metric a dashboard panel or an alert names is in a real scrape."""
    rows = held_out(0)
    answers = predict_each(client, rows[:2], "names")
    field = "label" if CLASSIFIER else "value"
    client.simulate_post("/v1/feedback", json={"request_id": "names-0", field: answers[0]})
    client.simulate_post("/v1/predict", json={"instances": []})  # a refused request
    exposed = {name for name, _ in scrape(client)}
    monitoring = project.root / "monitoring"
    dashboard = json.loads((monitoring / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    rules = (monitoring / "alerts.yml").read_text()
    exprs += _rule_exprs(rules)
    assert len(exprs) > len(dashboard["panels"])
    for expr in exprs:
        missing = metric_names(expr) - exposed
        assert not missing, (expr, missing)


def _rule_exprs(text: str) -> list[str]:
    """Each rule's ``expr``, folded (``>-``) or on one line, from alerts.yml's text."""
    exprs = []
    for match in re.finditer(r"^(\s*)expr: (.*)$", text, re.MULTILINE):
        indent, first = match.group(1), match.group(2)
        if first.strip() != ">-":
            exprs.append(first)
            continue
        body = []
        for line in text[match.end() + 1 :].splitlines():
            if not line.startswith(indent + "  "):
                break
            body.append(line.strip())
        exprs.append(" ".join(body))
    return exprs


def test_feedback_settings_are_checked_and_named() -> None:
    with pytest.raises(
        SettingsError, match=r"^FEEDBACK_MAX_ROWS must be 0 \(off\) or a positive integer"
    ):
        Settings.from_env({"FEEDBACK_MAX_ROWS": "-1"})
    with pytest.raises(SettingsError, match=r"^FEEDBACK_TTL must be a positive integer"):
        Settings.from_env({"FEEDBACK_TTL": "0"})
    settings = Settings.from_env(
        {"FEEDBACK_MAX_ROWS": "0", "FEEDBACK_TTL": "60", "FEEDBACK_DB": "/tmp/x.sqlite3"}
    )
    assert (settings.feedback_max_rows, settings.feedback_ttl) == (0, 60)
    assert settings.feedback_db == Path("/tmp/x.sqlite3")


def test_with_no_rows_to_remember_feedback_says_so(settings: Settings) -> None:
    client = testing.TestClient(create_app(settings.replace(feedback_max_rows=0)))
    [answer] = predict_each(client, held_out(0)[:1], "off")
    field = "label" if CLASSIFIER else "value"
    result = client.simulate_post("/v1/feedback", json={"request_id": "off-0", field: answer})
    assert result.status_code == 404
    assert result.json["error"]["message"].endswith("none are remembered (FEEDBACK_MAX_ROWS=0)")


def test_a_broken_join_state_fails_no_prediction(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FeedbackStore(tmp_path / "join.sqlite3", ttl=3600, max_rows=5)
    with sqlite3.connect(tmp_path / "join.sqlite3") as other:
        other.execute("DROP TABLE predictions")
    store.record("r1", "1.0.0", ["a"])  # no exception: the prediction is answered
    store.record("r2", "1.0.0", ["a", "b"])
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning.getMessage().startswith("cannot remember predictions for feedback: ")


def test_one_by_one_and_in_one_batch_count_the_same(settings: Settings) -> None:
    """Small requests are counted row by row (and flushed later), large ones as arrays."""
    rows = shifted(held_out(0))
    one_by_one = testing.TestClient(create_app(settings))
    predict_each(one_by_one, rows, "each")
    batched = testing.TestClient(create_app(settings))
    batched.simulate_post("/v1/predict", json={"instances": rows})

    def counts(client: testing.TestClient) -> dict[Any, float]:
        return {
            key: value
            for key, value in scrape(client).items()
            if key[0].startswith(("model_feature_", "model_prediction_"))
            and key[0].endswith(("_total", "_psi"))
        }

    found = counts(one_by_one)
    assert found == pytest.approx(counts(batched))
    assert sum(v for k, v in found.items() if k[0] == "model_feature_bin_observations_total") == (
        len(rows) * len(FEATURES)
        - sum(v for k, v in found.items() if k[0] == "model_feature_missing_total")
    )


def test_an_unusable_join_state_file_stops_no_worker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FeedbackStore(tmp_path / "no-such-folder" / "join.sqlite3", ttl=3600, max_rows=5)
    assert not store.enabled
    store.record("r1", "1.0.0", ["a"])
    assert store.answer([("r1", 0)]) == [None]
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning.getMessage().startswith("cannot open the feedback join state: ")
