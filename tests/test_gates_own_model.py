"""Gates tier: a user's own data and a user's own estimator, tried as a new user would.

One generated project and one environment for the module. Its data is replaced by a
CSV with a header, a named target, empty cells and a string column, with only
`[tool.mlprod.data]` edited; its estimator is swapped in `model/estimator.py` (and its
params) for a random forest and a HistGradientBoostingClassifier. After each change the
project trains, passes its own model tests, and (for the data) serves requests with
`null` under uWSGI. Every change is undone afterwards. Slow; CI runs it all the same.
"""

from __future__ import annotations

import csv
import json
import random
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from projects import new_project

from mlprod_cli.project import environment, server

pytestmark = pytest.mark.slow

SLUG = "credit-risk-scorer"
ESTIMATOR = Path("src/credit_risk_scorer/model/estimator.py")
# The server tests (real uWSGI under trouble) do not depend on the model, and
# test_gates.py runs them; here the project's tests of its model, data and API run.
MODEL_TESTS = ["--ignore=tests/test_container.py", "--ignore=tests/test_resilience.py"]
MODEL_TESTS += ["--ignore=tests/test_server.py"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_project(tmp_path_factory.mktemp("own-model"))


@pytest.fixture(scope="module")
def bin_dir(project: Path) -> Path:
    return environment.create(project).parent


def run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, check=False
    )


@pytest.fixture
def restored(project: Path) -> Iterator[Path]:
    """The project, with pyproject.toml, estimator.py and models/ put back afterwards."""
    kept = {path: path.read_text() for path in (project / "pyproject.toml", project / ESTIMATOR)}
    yield project
    for path, text in kept.items():
        path.write_text(text)
    for path in (project / "models").glob(f"{SLUG}-*"):
        path.unlink()


def write_customers(path: Path, rows: int = 240) -> None:
    """Churn-like data: numbers with gaps, a string column with gaps, an id, a named target."""
    generator = random.Random(7)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["customer_id", "tenure_months", "monthly_fee", "plan", "churned"])
        for index in range(rows):
            tenure = generator.randint(1, 72)
            plan = generator.choice(["basic", "plus", "premium"])
            fee = round(generator.uniform(10, 90), 2)
            churned = "yes" if tenure < 24 else "no"
            writer.writerow(
                [
                    f"c{index:04}",
                    "" if index % 29 == 0 else tenure,
                    "" if index % 11 == 0 else fee,
                    "" if index % 13 == 0 else plan,
                    churned,
                ]
            )


def set_data(pyproject: Path, table: str) -> None:
    """Replace `[tool.mlprod.data]` (and only it) in `pyproject`."""
    text = pyproject.read_text()
    pattern = r"\[tool\.mlprod\.data\]\n[^\[]*"
    assert re.search(pattern, text)
    pyproject.write_text(re.sub(pattern, lambda _: f"[tool.mlprod.data]\n{table}\n", text))


def test_a_users_own_csv_trains_passes_the_tests_and_serves_nulls(
    restored: Path, bin_dir: Path
) -> None:
    project = restored
    write_customers(project / "data" / "customers.csv")
    set_data(
        project / "pyproject.toml",
        'path = "data/customers.csv"\ntarget = "churned"\nid = "customer_id"\n',
    )
    trained = run([bin_dir / SLUG, "train"], project)
    assert trained.returncode == 0, trained.stderr
    tests = run([bin_dir / "pytest", "-q", "-p", "no:cacheprovider", *MODEL_TESTS], project)
    assert tests.returncode == 0, tests.stdout[-3000:]
    with server.running(project, bin_dir / "uwsgi", env={"UWSGI_PROCESSES": "1"}) as url:
        manifest = server.request("GET", f"{url}/v1/model").body
        features = {f["name"]: f for f in manifest["input_schema"]["features"]}
        assert list(features) == ["tenure_months", "monthly_fee", "plan"]
        assert all(feature["nullable"] for feature in features.values())
        assert features["plan"]["allowed"] == ["basic", "plus", "premium"]
        instance = {"tenure_months": None, "monthly_fee": 75.0, "plan": None}
        body = {"instances": [instance], "return_probabilities": True}
        answer = server.request("POST", f"{url}/v1/predict", body)
        assert answer.status == 200, answer.body
        assert answer.body["predictions"][0] in ("no", "yes")
        assert sum(answer.body["probabilities"][0].values()) == pytest.approx(1.0)
        integral = {"tenure_months": 12.0, "monthly_fee": 20, "plan": "gold"}
        refused = server.request("POST", f"{url}/v1/predict", {"instances": [integral]})
        assert refused.status == 422
        assert refused.body["error"]["message"] == (
            "instances[0].plan: Input should be one of 'basic', 'plus', 'premium'"
        )


SWAPS = {
    "random-forest": (
        "from sklearn.ensemble import RandomForestClassifier",
        "RandomForestClassifier(**params)",
        "n_estimators = 50",
    ),
    "hist-gradient-boosting": (
        "from sklearn.ensemble import HistGradientBoostingClassifier",
        "HistGradientBoostingClassifier(**params)",
        "max_iter = 50",
    ),
}


@pytest.mark.parametrize("swap", list(SWAPS))
def test_swapping_the_estimator_keeps_the_projects_tests_green(
    restored: Path, bin_dir: Path, swap: str
) -> None:
    project = restored
    imported, built, params = SWAPS[swap]
    source = (project / ESTIMATOR).read_text()
    made = "return make_pipeline(StandardScaler(), LogisticRegression(**params))"
    assert made in source
    swapped = source.replace(made, f"return {built}")
    base = "from sklearn.base import BaseEstimator"
    swapped = swapped.replace(base, f"{imported}\n{base}")
    (project / ESTIMATOR).write_text(swapped)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("max_iter = 1000", params))
    trained = run([bin_dir / SLUG, "train"], project)
    assert trained.returncode == 0, trained.stderr
    manifest = (project / "models" / f"{SLUG}-0.1.0.json").read_text()
    assert built.partition("(")[0] in (project / ESTIMATOR).read_text()
    assert '"framework": "scikit-learn"' in manifest
    [compiled] = [line for line in trained.stdout.splitlines() if "compiled" in line]
    if swap == "hist-gradient-boosting":  # skl2onnx 1.20 cannot convert it: served natively
        assert json.loads(manifest)["compiled"] is None
        assert compiled.split() == ["compiled", "none:", *compiled.split()[2:]]
        assert "convert (float32)" in compiled
    else:
        assert json.loads(manifest)["compiled"]["precision"] in ("float32", "float64")
    tests = run([bin_dir / "pytest", "-q", "-p", "no:cacheprovider", *MODEL_TESTS], project)
    assert tests.returncode == 0, tests.stdout[-3000:]


@pytest.fixture(scope="module")
def regression_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A regression project and its environment."""
    project = new_project(tmp_path_factory.mktemp("own-regression"), answers={"task": "regression"})
    return project, environment.create(project).parent


def write_houses(path: Path, rows: int = 300) -> None:
    """House prices: numbers with gaps, a string column with gaps, a named numeric target."""
    generator = random.Random(11)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["area_m2", "rooms", "district", "price"])
        for index in range(rows):
            area = round(generator.uniform(30, 200), 1)
            rooms = max(1, int(area // 30))
            district = generator.choice(["north", "south", "centre"])
            price = area * 3000 + (40000 if district == "centre" else 0) + generator.gauss(0, 9000)
            writer.writerow(
                [
                    area,
                    "" if index % 17 == 0 else rooms,
                    "" if index % 19 == 0 else district,
                    round(price),
                ]
            )


def test_a_regression_project_trains_on_the_users_data_and_its_tests_pass(
    regression_project: tuple[Path, Path],
) -> None:
    project, bin_dir = regression_project
    write_houses(project / "data" / "houses.csv")
    set_data(project / "pyproject.toml", 'path = "data/houses.csv"\ntarget = "price"\n')
    trained = run([bin_dir / SLUG, "train"], project)
    assert trained.returncode == 0, trained.stderr
    assert re.search(r"r2\s+0\.9\d{3}", trained.stdout), trained.stdout
    tests = run([bin_dir / "pytest", "-q", "-p", "no:cacheprovider", *MODEL_TESTS], project)
    assert tests.returncode == 0, tests.stdout[-3000:]
