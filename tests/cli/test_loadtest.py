"""`mlprod loadtest`: bad input, each with its exact one-line message, before any work.

None of these runs load: every check happens before Locust is imported (which would
monkey-patch this test process) or a server is started. Runs with real load are in
`tests/test_loadtest_runs.py`; the run against a generated project in the gates tier.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from projects import PYPROJECT
from typer.testing import CliRunner, Result

from mlprod_cli.main import app

HOST = "http://127.0.0.1:9"  # validated, never reached: the checks fail first
NOT_BODIES = (
    'must hold a request body (a JSON object such as {"instances": [...]}) '
    "or a non-empty list of them"
)


@pytest.fixture(autouse=True)
def locust_stays_out() -> Iterator[None]:
    """A check that fails is worthless if it already ran the load: Locust must stay unloaded.

    (gevent may be loaded already: the load's own HTTP client is tested in this process.)
    """
    loaded = {name for name in ("locust", "gevent") if name in sys.modules}
    yield
    for name in ("locust", "gevent"):
        assert name in loaded or name not in sys.modules, f"the command imported {name}"


def loadtest(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, ["loadtest", *args])


def fails_with(result: Result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr == f"mlprod: {message}\n"
    assert result.stdout == ""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with no environment yet, and the current folder."""
    root = tmp_path / "credit-risk-scorer"
    root.mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    monkeypatch.chdir(root)
    return root


def test_help_names_the_load_options_and_exit_codes(runner: CliRunner) -> None:
    result = loadtest(runner, "--help")
    assert result.exit_code == 0
    for option in ("--users", "--rate", "--duration", "--processes", "--master", "--worker"):
        assert option in result.stdout
    assert "3 a threshold was breached" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "0"], "--users must be at least 1, got 0"),
        (["--rate", "0"], "--rate must be greater than 0, got 0"),
        (["--rate", "-5"], "--rate must be greater than 0, got -5"),
        (["--rate", "inf"], "--rate must be a finite number, got inf"),
        (
            ["--duration", "10x"],
            "--duration '10x' is not a duration: give seconds (30, 30s), "
            "minutes (2m, 1m30s) or hours (1h)",
        ),
        (["--duration", "0s"], "--duration must be at least 1 s, got '0s'"),
        (
            ["--warmup", "1.5s"],
            "--warmup '1.5s' is not a duration: give seconds (30, 30s), "
            "minutes (2m, 1m30s) or hours (1h)",
        ),
        (["--processes", "0"], "--processes must be at least 1, got 0"),
        (
            ["--host", "ftp://example.org"],
            "--host 'ftp://example.org' is not an HTTP URL: give the server's base URL, "
            "e.g. http://127.0.0.1:8000",
        ),
        (
            ["--host", "http://127.0.0.1:8000/v1/predict"],
            "--host 'http://127.0.0.1:8000/v1/predict' must be the server's base URL, "
            "without a path: mlprod sends its requests to <host>/v1/predict",
        ),
        (
            ["--host", "http://127.0.0.1:99999"],
            "--host 'http://127.0.0.1:99999' has an invalid port",
        ),
        (
            ["--master"],
            "--master needs --host URL: workers on other machines cannot reach a server "
            "that mlprod starts on this machine's loopback address",
        ),
        (
            ["--host", HOST, "--master", "--processes", "3", "--expect-workers", "2"],
            "--expect-workers 2 is fewer than the 3 worker(s) this machine starts",
        ),
        (
            ["--expect-workers", "2"],
            "--expect-workers is for --master; with --processes N mlprod waits for its own N",
        ),
        (
            ["--users", "1", "--processes", "2"],
            "--users 1 is fewer than the 2 load processes: "
            "give each at least one user (raise --users or lower --processes)",
        ),
        (
            ["--master-host", "10.0.0.1"],
            "--master-host is for --worker: the master binds its own port",
        ),
        (["--master-port", "0"], "--master-port must be between 1 and 65535, got 0"),
        (["--payload", "absent.json"], "--payload absent.json is not a file"),
        (
            ["--json", "no/such/folder/lt.json"],
            "--json no/such/folder/lt.json: the folder no/such/folder does not exist",
        ),
        (["--html", "."], "--html . is a folder; give a file name"),
        (["--max-p99-ms", "0"], "--max-p99-ms must be greater than 0, got 0"),
        (["--min-rps", "-1"], "--min-rps must be greater than 0, got -1"),
        (
            ["--max-error-rate", "5"],
            "--max-error-rate must be a fraction between 0 and 1 (0.01 is 1%), got 5",
        ),
    ],
)
def test_bad_option_is_one_line_naming_it(
    runner: CliRunner, project: Path, args: list[str], message: str
) -> None:
    fails_with(loadtest(runner, *args), message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--worker"], "--worker needs --master-host HOST: the machine running --master"),
        (
            ["--worker", "--master"],
            "--worker and --master exclude each other: a process is one or the other",
        ),
        (
            ["--worker", "--master-host", "10.0.0.1", "--users", "8", "--duration", "1m"],
            "--worker takes its settings from the master: drop --users, --duration here "
            "and give it to `mlprod loadtest --master` instead",
        ),
        (
            ["--worker", "--master-host", "10.0.0.1", "--min-rps", "10"],
            "--worker takes its settings from the master: drop thresholds here "
            "and give it to `mlprod loadtest --master` instead",
        ),
    ],
)
def test_worker_takes_only_the_masters_address(
    runner: CliRunner, args: list[str], message: str
) -> None:
    fails_with(loadtest(runner, *args), message)


def test_without_a_project_or_host_says_how_to_name_one(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fails_with(
        loadtest(runner),
        f"no mlprod project here or above {tmp_path.resolve()}; "
        "run inside a project made by `mlprod new` or pass --project",
    )


def test_a_project_without_its_environment_is_refused_before_any_load(
    runner: CliRunner, project: Path
) -> None:
    uwsgi = project / ".venv" / "bin" / "uwsgi"
    fails_with(
        loadtest(runner, "--duration", "1s"),
        f"no uWSGI in the project's environment ({uwsgi}); install the project there "
        f"with its api extra (`uv pip install -e '.[api]'` in {project}), or pass --host URL",
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "{not json",
            "is not valid JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
        ),
        (
            "[]",
            NOT_BODIES,
        ),
        (
            "[1, 2]",
            NOT_BODIES,
        ),
    ],
)
def test_unusable_payload_file_is_refused_before_any_load(
    runner: CliRunner, project: Path, content: str, message: str
) -> None:
    (project / "bodies.json").write_text(content)
    fails_with(
        loadtest(runner, "--host", HOST, "--payload", "bodies.json"),
        f"--payload bodies.json {message}",
    )


def test_a_host_that_refuses_connections_is_reported_before_any_load(
    runner: CliRunner, project: Path
) -> None:
    from mlprod_cli.project.server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    fails_with(
        loadtest(runner, "--host", url), f"cannot connect to --host {url}: Connection refused"
    )


def test_missing_loadtest_extra_names_the_install_command(
    runner: CliRunner, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "locust" else real(name, *a)
    )
    (project / "bodies.json").write_text(json.dumps({"instances": [{"x": 1}]}))
    fails_with(
        loadtest(runner, "--host", HOST, "--payload", "bodies.json"),
        "mlprod loadtest needs locust: pip install 'mlprod[loadtest]'",
    )


@pytest.mark.parametrize(
    "args",
    [["--help"], ["loadtest", "--help"], ["bump", "--help"], ["new", "--help"], ["--version"]],
)
def test_locust_is_imported_by_no_other_path(args: list[str]) -> None:
    """Locust patches the standard library as it loads: only a load-test run may import it."""
    code = (
        "import sys\n"
        "from mlprod_cli.main import app\n"
        f"try:\n    app({args!r})\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('locust', 'gevent', 'hdrh', 'zmq') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
