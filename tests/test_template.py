"""Render and content tiers: bake the template with pytest-cookies and read what it made.

The render tier checks the file set and that nothing was left unrendered; the content
tier parses the generated configuration and checks what matters in it.
"""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from mlprod_cli.templating.answers import DEPENDENCY_IMPORTS, option_matrix
from mlprod_cli.templating.source import TemplateSource, bundled_template

Bake = Callable[..., Any]

DATA_FILES = {"classification": "data/iris.csv", "regression": "data/diabetes.csv"}
"""The example data set each task ships with (written from scikit-learn's, not downloaded)."""
MATRIX = option_matrix(bundled_template().choices())
MATRIX_IDS = ["-".join(f"{key}={value}" for key, value in combo.items()) for combo in MATRIX]
FRAMEWORK_FILES = {"pytorch": ["src/PACKAGE/model/network.py", "tests/test_network.py"]}
"""Files only a framework's projects have (its `_variants/framework-<name>/`)."""
NAMES = {3: "Fox", 12: "Churn Scorer", 24: "Customer Lifetime Values"}
NAMES[40] = "Quarterly Revenue Forecast For Retail Co"
"""Project names by length: the generated code's layout must not depend on the name."""

EXPECTED_FILES = sorted(
    [
        ".dockerignore",
        ".github/workflows/ci.yml",
        ".gitignore",
        ".pre-commit-config.yaml",
        "CHANGELOG.md",
        "Dockerfile",
        "README.md",
        "benchmarks/bare_wsgi.py",
        "benchmarks/batch.py",
        "benchmarks/overhead.py",
        "DATA",
        "deploy/kubernetes/base/deployment.yaml",
        "deploy/kubernetes/base/hpa.yaml",
        "deploy/kubernetes/base/kustomization.yaml",
        "deploy/kubernetes/base/pdb.yaml",
        "deploy/kubernetes/base/service.yaml",
        "deploy/kubernetes/components/servicemonitor/kustomization.yaml",
        "deploy/kubernetes/components/servicemonitor/servicemonitor.yaml",
        "deploy/kubernetes/overlays/production/kustomization.yaml",
        "deploy/kubernetes/overlays/production/namespace.yaml",
        "deploy/kubernetes/overlays/staging/kustomization.yaml",
        "deploy/kubernetes/overlays/staging/namespace.yaml",
        "models/.gitkeep",
        "monitoring/alerts.yml",
        "monitoring/grafana-dashboard.json",
        "monitoring/prometheus.yml",
        "pyproject.toml",
        "src/PACKAGE/__init__.py",
        "src/PACKAGE/cli.py",
        "src/PACKAGE/drift.py",
        "src/PACKAGE/logging.py",
        "src/PACKAGE/settings.py",
        "src/PACKAGE/wsgi.py",
        "src/PACKAGE/api/__init__.py",
        "src/PACKAGE/api/app.py",
        "src/PACKAGE/api/batching.py",
        "src/PACKAGE/api/cache.py",
        "src/PACKAGE/api/docs.py",
        "src/PACKAGE/api/errors.py",
        "src/PACKAGE/api/feedback.py",
        "src/PACKAGE/api/faster.py",
        "src/PACKAGE/api/harakiri.py",
        "src/PACKAGE/api/integrity.py",
        "src/PACKAGE/api/metrics.py",
        "src/PACKAGE/api/middleware.py",
        "src/PACKAGE/api/monitor.py",
        "src/PACKAGE/api/openapi.py",
        "src/PACKAGE/api/resources.py",
        "src/PACKAGE/api/schemas.py",
        "src/PACKAGE/api/store.py",
        "src/PACKAGE/batch/__init__.py",
        "src/PACKAGE/batch/run.py",
        "src/PACKAGE/batch/score.py",
        "src/PACKAGE/batch/sink.py",
        "src/PACKAGE/batch/source.py",
        "src/PACKAGE/batch/spark.py",
        "src/PACKAGE/model/__init__.py",
        "src/PACKAGE/model/base.py",
        "src/PACKAGE/model/compiled.py",
        "src/PACKAGE/model/config.py",
        "src/PACKAGE/model/data.py",
        "src/PACKAGE/model/errors.py",
        "src/PACKAGE/model/estimator.py",
        "src/PACKAGE/model/evaluation.py",
        "src/PACKAGE/model/integrity.py",
        "src/PACKAGE/model/manifest.py",
        "src/PACKAGE/model/predictor.py",
        "src/PACKAGE/model/profile.py",
        "src/PACKAGE/model/registry.py",
        "src/PACKAGE/model/schema.py",
        "src/PACKAGE/model/selection.py",
        "src/PACKAGE/model/thresholds.py",
        "src/PACKAGE/model/train.py",
        "src/PACKAGE/store/__init__.py",
        "src/PACKAGE/store/keys.py",
        "src/PACKAGE/store/redis_store.py",
        "src/PACKAGE/tracking/__init__.py",
        "src/PACKAGE/tracking/data_version.py",
        "src/PACKAGE/tracking/mlflow_tracker.py",
        "src/PACKAGE/tracking/runs.py",
        "tests/conftest.py",
        "tests/contract.py",
        "tests/servers.py",
        "tests/slow_start.py",
        "tests/slow_worker.py",
        "tests/stall_model.py",
        "tests/stall_worker.py",
        "tests/test_api.py",
        "tests/test_auth.py",
        "tests/test_batch.py",
        "tests/test_batching.py",
        "tests/test_cache.py",
        "tests/test_cli.py",
        "tests/test_compiled.py",
        "tests/test_compiled_serving.py",
        "tests/test_container.py",
        "tests/test_dvc.py",
        "tests/test_edges.py",
        "tests/test_faster_serving.py",
        "tests/test_fuzz.py",
        "tests/test_integrity.py",
        "tests/test_keys.py",
        "tests/test_layers.py",
        "tests/test_logging.py",
        "tests/test_manifest.py",
        "tests/test_metrics.py",
        "tests/test_model.py",
        "tests/test_monitoring.py",
        "tests/test_openapi.py",
        "tests/test_prometheus.py",
        "tests/test_registry.py",
        "tests/test_resilience.py",
        "tests/test_selection.py",
        "tests/test_server.py",
        "tests/test_serving.py",
        "tests/test_settings.py",
        "tests/test_spark.py",
        "tests/test_store.py",
        "tests/test_thresholds.py",
        "tests/test_tracking.py",
        "tests/test_tracking_server.py",
        "tests/test_train.py",
        "tox.ini",
        "uwsgi.ini",
    ]
)

OPTION_SETS = {
    "defaults": {},
    "credit-risk": {"project_name": "Credit Risk Scorer", "author_name": "Ada O'Hara"},
    "quoting": {"description": 'Says "hi" \\ and [brackets] = ok', "author_name": "Zoë Ünïcode"},
}


def files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


@pytest.fixture(params=list(OPTION_SETS), ids=list(OPTION_SETS))
def baked(request: pytest.FixtureRequest, bake: Bake) -> Path:
    result = bake(**OPTION_SETS[request.param])
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


@pytest.fixture
def project(bake: Bake) -> Path:
    result = bake(project_name="Credit Risk Scorer")
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


def uwsgi_options(path: Path) -> list[tuple[str, str]]:
    """The `key = value` lines of uwsgi.ini in order (uWSGI allows repeated keys)."""
    options = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith((";", "#", "[")):
            continue
        key, _, value = line.partition("=")
        options.append((key.strip(), value.strip()))
    return options


# Render tier ---------------------------------------------------------------------------


@pytest.mark.parametrize("combination", MATRIX, ids=MATRIX_IDS)
def test_generates_exactly_the_expected_files(bake: Bake, combination: dict[str, str]) -> None:
    result = bake(project_name="Credit Risk Scorer", **combination)
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    generated = [name.replace("credit_risk_scorer", "PACKAGE") for name in files(project)]
    data = DATA_FILES[combination["task"]]
    extra = FRAMEWORK_FILES.get(combination["framework"], [])
    expected = [data if name == "DATA" else name for name in EXPECTED_FILES]
    assert generated == sorted(expected + extra)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["mlprod"]
    assert (pyproject["task"], pyproject["framework"]) == (
        combination["task"],
        combination["framework"],
    )
    assert pyproject["data"]["path"] == data
    header = (project / data).read_text().splitlines()[0].split(",")
    assert pyproject["data"]["target"] in header


@pytest.mark.parametrize("length", sorted(NAMES))
@pytest.mark.parametrize("combination", MATRIX, ids=MATRIX_IDS)
def test_generated_code_is_lint_and_format_clean_for_any_name(
    bake: Bake, combination: dict[str, str], length: int
) -> None:
    """The project's own CI runs `ruff check` and `ruff format --check`: both pass on
    the first commit, whatever the name's length and the options."""
    assert len(NAMES[length]) == length
    result = bake(project_name=NAMES[length], **combination)
    assert result.exit_code == 0, result.exception
    ruff = str(Path(sys.executable).with_name("ruff"))
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        ran = subprocess.run(
            [ruff, *command], cwd=result.project_path, capture_output=True, text=True, check=False
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr


def test_variants_leave_no_trace(project: Path) -> None:
    assert not (project / "_variants").exists()


def test_no_template_syntax_is_left_unrendered(baked: Path) -> None:
    for name in files(baked):
        text = (baked / name).read_text(encoding="utf-8", errors="replace")
        assert "{{" not in text and "{%" not in text and "cookiecutter" not in text, name


def test_no_byte_code_is_generated(baked: Path) -> None:
    assert not [path for path in baked.rglob("*") if path.name == "__pycache__"]
    assert not [path for path in baked.rglob("*.pyc")]


def test_every_template_key_is_used(template_source: TemplateSource) -> None:
    text = "\n".join(
        path.read_text(encoding="utf-8", errors="replace") + str(path)
        for path in template_source.root.rglob("*")
        if path.is_file() and path.name != "cookiecutter.json"
    )
    context = template_source.context()
    keys = [key for key in context if not key.startswith("_") or key.startswith("__")]
    derived_from = " ".join(str(value) for value in context.values())
    unused = [
        key
        for key in keys
        if f"cookiecutter.{key}" not in text and f"cookiecutter.{key}" not in derived_from
    ]
    assert unused == [] or set(unused) <= {"__prompts__"}


def test_inline_conditionals_stay_few(template_source: TemplateSource) -> None:
    tags = sum(
        path.read_text(encoding="utf-8", errors="replace").count("{% if")
        for path in template_source.root.rglob("*")
        if path.is_file()
    )
    assert tags <= 3


# Content tier --------------------------------------------------------------------------


def test_pyproject_declares_the_package_the_command_and_the_model(project: Path) -> None:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    meta = pyproject["project"]
    assert meta["name"] == "credit-risk-scorer"
    assert meta["requires-python"] == ">=3.10"
    assert meta["scripts"] == {"credit-risk-scorer": "credit_risk_scorer.cli:main"}
    extras = meta["optional-dependencies"]
    assert {"api", "dev"} <= set(extras)
    api = " ".join(extras["api"])
    for requirement in ("falcon", "pyuwsgi", "prometheus-client", "swagger-ui-py"):
        assert requirement in api
    # the command line reads its settings with them, and `train` needs no extra
    core = " ".join(meta["dependencies"])
    assert "pydantic>=" in core and "pydantic-settings>=" in core
    assert any(dep.startswith("schemathesis>=") for dep in extras["dev"])
    assert all(re.search(r">=\s*\d", dep) for dep in meta["dependencies"] + extras["api"])
    assert pyproject["tool"]["mlprod"]["model_name"] == "credit-risk-scorer"
    assert pyproject["tool"]["mlprod"]["model_version"] == "0.1.0"


FRAMEWORKS = json.loads((Path(__file__).parents[1] / "template" / "cookiecutter.json").read_text())[
    "framework"
]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_dependency_has_its_import_names_in_the_table_new_checks(
    bake: Bake, framework: str
) -> None:
    """`mlprod new` refuses package names of the project's dependencies, from one table."""
    result = bake(framework=framework)
    assert result.exit_code == 0, result.exception
    project = tomllib.loads((Path(result.project_path) / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    names = {Requirement(requirement).name.lower() for requirement in requirements}
    assert {"numpy", "falcon", "pyuwsgi"} <= names
    missing = sorted(names - set(DEPENDENCY_IMPORTS))
    assert not missing, f"add their import names to answers.DEPENDENCY_IMPORTS: {missing}"


FRAMEWORK_REQUIREMENTS = {
    "sklearn": {"scikit-learn"},
    "xgboost": {"scikit-learn", "xgboost-cpu", "xgboost"},
    "lightgbm": {"scikit-learn", "lightgbm"},
    "pytorch": {"scikit-learn"},
}
"""The distributions a framework's project must depend on (and no other framework's)."""
TRAIN_REQUIREMENTS = {"pytorch": {"torch", "onnxscript"}}
"""What a framework's training needs beyond serving: its `train` extra, never a dependency."""
FRAMEWORK_IMPORTS = {"pytorch": "torch"}
"""A framework's import name, where it is not the framework's own name."""


@pytest.mark.parametrize("combination", MATRIX, ids=MATRIX_IDS)
def test_the_estimator_and_dependencies_are_the_chosen_frameworks(
    bake: Bake, combination: dict[str, str]
) -> None:
    result = bake(**combination)
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    framework = combination["framework"]
    # the model's code: the estimator, and a network's own module (the only one importing torch)
    model = next(project.glob("src/*/model"))
    code = "".join(
        path.read_text() for path in (model / "estimator.py", model / "network.py") if path.exists()
    )
    imports = {
        line.split()[1].partition(".")[0]
        for line in code.splitlines()
        if line.startswith(("import ", "from ")) and not line.startswith("from __future__")
    }
    # scikit-learn's base classes are every estimator's; no other framework is imported
    import_names = {FRAMEWORK_IMPORTS.get(name, name) for name in FRAMEWORK_REQUIREMENTS}
    others = import_names - {FRAMEWORK_IMPORTS.get(framework, framework), "sklearn"}
    assert FRAMEWORK_IMPORTS.get(framework, framework) in imports
    assert not imports & others
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    names = {Requirement(requirement).name.lower() for requirement in metadata["dependencies"]}
    frameworks = set().union(*FRAMEWORK_REQUIREMENTS.values(), *TRAIN_REQUIREMENTS.values())
    assert names & frameworks == FRAMEWORK_REQUIREMENTS[framework]
    train = {Requirement(item).name.lower() for item in metadata["optional-dependencies"]["train"]}
    assert train == TRAIN_REQUIREMENTS.get(framework, set())


def test_pyproject_quotes_answers_safely(bake: Bake) -> None:
    result = bake(**OPTION_SETS["quoting"])
    meta = tomllib.loads((Path(result.project_path) / "pyproject.toml").read_text())["project"]
    assert meta["description"] == OPTION_SETS["quoting"]["description"]
    assert meta["authors"][0]["name"] == "Zoë Ünïcode"


def test_uwsgi_ini_is_tuned_for_cpu_bound_models(project: Path) -> None:
    options = uwsgi_options(project / "uwsgi.ini")
    keys = {key for key, _ in options}
    for required in (
        "master", "strict", "need-app", "processes", "threads", "lazy-apps", "harakiri",
        "harakiri-verbose", "max-requests", "max-requests-delta", "reload-on-rss",
        "worker-reload-mercy", "die-on-term", "thunder-lock", "disable-logging", "listen",
        "buffer-size", "max-vars", "socket-timeout", "gevent", "stats", "touch-chain-reload",
    ):  # fmt: skip
        assert required in keys, required
    # the app reads the body itself: a 413 before reading it, a 408 when it stalls
    assert "post-buffering" not in keys
    assert ("threads", "1") in options
    assert ("lazy-apps", "true") in options
    assert ("module", "credit_risk_scorer.wsgi:application") in options
    pinned = {value.split("=")[0] for key, value in options if key == "env"}
    assert {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"} <= pinned


def test_uwsgi_ini_keeps_connections_in_the_router_not_the_workers(project: Path) -> None:
    """uWSGI's HTTP router holds the kept-alive connections; workers sit behind it on a
    local socket, so a recycled, reloaded or killed worker never drops a client's connection."""
    options = uwsgi_options(project / "uwsgi.ini")
    listeners = {"socket", "http-socket", "http11-socket", "http", "https", "uwsgi-socket"}
    sockets = [(key, value) for key, value in options if key in listeners]
    assert sockets == [
        ("http", "%(bind_host):%(bind_port)"),
        ("socket", "%(metrics_dir)/workers.sock"),
    ]
    keys = {key for key, _ in options}
    assert {"http-keepalive", "http-timeout", "http-headers-timeout", "http-manage-expect"} <= keys
    assert "add-header" not in keys  # no `Connection: close` on every response any more


def test_uwsgi_defaults_give_way_to_the_environment(project: Path) -> None:
    """Processes, harakiri and the router's timeouts are set only when their UWSGI_* are not."""
    options = uwsgi_options(project / "uwsgi.ini")
    for variable, key in (
        ("UWSGI_PROCESSES", "processes"),
        ("UWSGI_HARAKIRI", "harakiri"),
        ("UWSGI_HTTP_KEEPALIVE", "http-keepalive"),
        ("UWSGI_HTTP_TIMEOUT", "http-timeout"),
    ):
        start = options.index(("if-not-env", variable))
        end = options.index(("endif", ""), start)
        assert [k for k, _ in options[start + 1 : end]] == [key], variable
        assert [k for k, _ in options].count(key) == 1, key


# Lines that open or close a conditional block: the settings inside carry the reasons.
UWSGI_STRUCTURE = ("if-env", "if-not-env", "endif")


def test_every_uwsgi_setting_says_why(project: Path) -> None:
    """Each setting sits under its own comment; only a run of the same key may share one."""
    lines = [line.strip() for line in (project / "uwsgi.ini").read_text().splitlines()]
    for number, line in enumerate(lines):
        if not line or line.startswith((";", "#", "[")):
            continue
        if line.partition("=")[0].strip() in UWSGI_STRUCTURE:
            continue
        previous = lines[number - 1] if number else ""
        same_key = previous.partition("=")[0].strip() == line.partition("=")[0].strip()
        assert previous.startswith((";", "#")) or same_key, (
            f"uwsgi.ini line {number + 1} has no comment saying why: {line}"
        )


def test_dockerfile_is_multi_stage_non_root_and_healthchecked(project: Path) -> None:
    dockerfile = (project / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) >= 2
    assert re.search(r"^USER (?!root)\S+", dockerfile, re.MULTILINE)
    assert re.search(r"^EXPOSE 8000", dockerfile, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*/health/ready", dockerfile, re.MULTILINE | re.DOTALL)
    assert "uwsgi.ini" in dockerfile
    assert re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)[-1] == "python:3.11-slim"
    assert re.search(r"^USER \d+:\d+$", dockerfile, re.MULTILINE), "numeric, for runAsNonRoot"
    # `mlprod package` pins the version the image serves with this build argument.
    assert re.search(r"^ARG MODEL_VERSION=latest$", dockerfile, re.MULTILINE)
    assert "MODEL_VERSION=${MODEL_VERSION}" in dockerfile
    ignored = (project / ".dockerignore").read_text().splitlines()
    assert {"data", ".venv", "tests", "dist", "**/__pycache__", ".pytest_cache"} <= set(ignored)


def test_ci_workflow_lints_type_checks_trains_and_tests(project: Path) -> None:
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    steps = " ".join(
        str(step.get("run", "")) for job in workflow["jobs"].values() for step in job["steps"]
    )
    for command in (
        "ruff check",
        "ruff format --check",
        "bin/mypy",
        "pytest",
        "credit-risk-scorer train",
    ):
        assert command in steps
    lint = " ".join(str(step.get("run", "")) for step in workflow["jobs"]["lint"]["steps"])
    assert "-e '.[api,dev,train]'" in lint, "mypy checks against the installed dependencies"


def test_mypy_is_strict_over_src_and_run_by_tox_and_the_dev_extra(project: Path) -> None:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    mypy = pyproject["tool"]["mypy"]
    assert (mypy["files"], mypy["strict"]) == (["src"], True)
    ignored = {module for override in mypy["overrides"] for module in override["module"]}
    untyped = {"sklearn.*", "skops.*", "pyarrow.*", "onnx.*", "onnxruntime.*", "skl2onnx.*"}
    untyped |= {"onnxmltools.*", "py4j.*"}
    optional = {"xgboost.*", "lightgbm.*", "pyspark.*", "redis.*", "mlflow.*", "dvc.*"}
    assert ignored == untyped | optional, "only libraries without types, or not always there"
    dev = {Requirement(dep).name for dep in pyproject["project"]["optional-dependencies"]["dev"]}
    assert {"mypy", "pandas-stubs", "types-gevent", "types-uwsgi", "pre-commit"} <= dev
    config = configparser.ConfigParser()
    config.read(project / "tox.ini")
    lint = config["testenv:lint"]
    assert "mypy" in lint["commands"].split()
    assert "skip_install" not in lint and {"api", "dev"} <= set(lint["extras"].split())


def test_pre_commit_config_is_valid_and_runs_the_checks_ci_runs(project: Path) -> None:
    config = project / ".pre-commit-config.yaml"
    pre_commit = str(Path(sys.executable).with_name("pre-commit"))
    ran = subprocess.run(
        [pre_commit, "validate-config", str(config)], capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    hooks = {hook["id"]: hook for repo in yaml.safe_load(config.read_text())["repos"]
             for hook in repo["hooks"]}  # fmt: skip
    assert set(hooks) == {
        "check-merge-conflict", "end-of-file-fixer", "ruff-check", "ruff-format", "mypy"
    }  # fmt: skip
    # the tools of the project's own environment: the versions its dev extra pins for CI
    assert all(hook["entry"].startswith(".venv/bin/") for hook in hooks.values())
    assert hooks["mypy"]["pass_filenames"] is False, "mypy checks src/ whole, as CI does"


def test_tox_lets_the_container_test_reach_the_engine_and_know_it_runs_in_ci(
    project: Path,
) -> None:
    config = configparser.ConfigParser()
    config.read(project / "tox.ini")
    passed = config["testenv"]["pass_env"].split()
    assert {"CI", "DOCKER_*", "CONTAINER_HOST", "CONTAINERS_*"} <= set(passed)


def test_thresholds_suit_the_task(bake: Bake) -> None:
    for task, bound in (("classification", "min_accuracy"), ("regression", "min_r2")):
        result = bake(task=task)
        mlprod = tomllib.loads((Path(result.project_path) / "pyproject.toml").read_text())
        assert list(mlprod["tool"]["mlprod"]["thresholds"]) == [bound]


def test_regression_data_is_diabetes_with_a_named_numeric_target(bake: Bake) -> None:
    result = bake(task="regression")
    lines = (Path(result.project_path) / "data" / "diabetes.csv").read_text().splitlines()
    assert lines[0] == "age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,progression"
    assert len(lines) == 443
    assert all(float(line.rsplit(",", 1)[1]) > 0 for line in lines[1:])


def test_data_set_is_iris_with_snake_case_columns(project: Path) -> None:
    lines = (project / "data" / "iris.csv").read_text().splitlines()
    assert lines[0] == "sepal_length,sepal_width,petal_length,petal_width,species"
    assert len(lines) == 151
    assert {line.rsplit(",", 1)[1] for line in lines[1:]} == {"setosa", "versicolor", "virginica"}


def test_mlprod_json_is_not_made_by_the_template(project: Path) -> None:
    # `mlprod new` writes the provenance after rendering; the template must not.
    assert not (project / ".mlprod.json").exists()


def test_mlprod_new_renders_exactly_what_cookiecutter_renders(
    project: Path, tmp_path: Path
) -> None:
    # `mlprod new` copies files without template syntax instead of rendering them; the
    # result must not differ by a byte from cookiecutter rendering every file.
    from typer.testing import CliRunner

    from mlprod_cli.main import app

    arguments = ["new", "--no-input", "--no-git", "-o", str(tmp_path / "new")]
    result = CliRunner().invoke(app, [*arguments, "--set", "project_name=Credit Risk Scorer"])
    assert result.exit_code == 0, result.output
    made = tmp_path / "new" / "credit-risk-scorer"
    assert [name for name in files(made) if name != ".mlprod.json"] == files(project)
    for name in files(project):
        assert (made / name).read_bytes() == (project / name).read_bytes(), name


def test_verbatim_files_are_those_without_template_syntax(tmp_path: Path) -> None:
    from mlprod_cli.templating.source import verbatim_files

    project = tmp_path / "{{cookiecutter.__project_slug}}"
    (project / "src").mkdir(parents=True)
    (project / "plain.py").write_text("x = {'a': 1}\n")
    (project / "src" / "[odd].txt").write_text("no syntax here\n")
    (project / "named.toml").write_text('name = "{{ cookiecutter.project_name }}"\n')
    (project / "logic.md").write_text("{% if true %}x{% endif %}\n")
    (project / "note.md").write_text("{# a comment #}\n")
    assert verbatim_files(tmp_path) == ["plain.py", "src/[[]odd].txt"]
