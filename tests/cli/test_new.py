"""`mlprod new`: every path a user can take, errors included, with the exact message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitrepos import git, isolate_git
from typer.testing import CliRunner, Result

from mlprod_cli import __version__
from mlprod_cli.main import app


@pytest.fixture(autouse=True)
def git_without_identity(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git with no user or system configuration: no identity, no signing, no hooks."""
    isolate_git(monkeypatch, tmp_path_factory.mktemp("gitconfig"), identity=False)


def new(runner: CliRunner, *args: str, answers: str | None = None) -> Result:
    return runner.invoke(app, ["new", *args], input=answers)


def listing(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_no_input_makes_the_project_named_after_the_project_name(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = new(runner, "--no-input", "-o", "out", "--set", "project_name=Credit Risk Scorer")
    assert result.exit_code == 0, result.output
    project = tmp_path / "out" / "credit-risk-scorer"
    assert (project / "src" / "credit_risk_scorer" / "__init__.py").is_file()
    assert result.stdout == (
        f"Created credit-risk-scorer in {project}\n"
        "Initialised a git repository in it and committed the generated files\n"
        "\n"
        "Next steps:\n"
        "  cd out/credit-risk-scorer\n"
        "  python3 -m venv .venv && .venv/bin/pip install -e '.[api,dev,train]'\n"
        "  .venv/bin/credit-risk-scorer train && .venv/bin/uwsgi --ini uwsgi.ini\n"
    )
    assert result.stderr == ""


def test_no_input_takes_every_default(runner: CliRunner, tmp_path: Path) -> None:
    result = new(runner, "--no-input", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert [path.name for path in tmp_path.iterdir()] == ["iris-classifier"]


def test_the_project_is_a_git_repository_with_the_generated_files_committed(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = new(runner, "--no-input", "-o", str(tmp_path), "--set", "author_name=Ada Lovelace")
    assert result.exit_code == 0, result.output
    project = tmp_path / "iris-classifier"
    assert git(project, "status", "--porcelain") == ""
    # git has no identity here, so the commit is the project's author's, for this commit only.
    assert git(project, "log", "--format=%an <%ae>|%cn <%ce>|%s") == (
        "Ada Lovelace <you@example.com>|Ada Lovelace <you@example.com>|"
        f"Initial commit from the mlprod {__version__} template\n"
    )
    assert ".mlprod.json" in git(project, "ls-files").splitlines()
    assert not (project / ".git" / "config").read_text().count("[user]")


def test_the_first_commit_is_the_users_when_git_knows_them(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Grace Hopper")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "grace@example.org")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Grace Hopper")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "grace@example.org")
    result = new(runner, "--no-input", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    author = git(tmp_path / "iris-classifier", "log", "--format=%an <%ae>")
    assert author == "Grace Hopper <grace@example.org>\n"


def test_no_git_makes_no_repository(runner: CliRunner, tmp_path: Path) -> None:
    result = new(runner, "--no-input", "-o", str(tmp_path), "--no-git")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "iris-classifier" / ".git").exists()
    assert result.stdout.startswith(
        f"Created iris-classifier in {tmp_path / 'iris-classifier'}\n\n"
    )


def test_a_project_inside_a_repository_is_left_to_it(runner: CliRunner, tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet")
    result = new(runner, "--no-input", "-o", str(tmp_path / "models"))
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "models" / "iris-classifier" / ".git").exists()
    assert (
        result.stdout.splitlines()[1]
        == f"It is inside the git repository {tmp_path}: commit it there"
    )


def test_without_git_the_project_is_made_all_the_same(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-such-bin"))
    result = new(runner, "--no-input", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == "git is not installed, so it is not a git repository"
    assert not (tmp_path / "iris-classifier" / ".git").exists()


def test_a_failing_first_commit_is_a_warning(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "pre-commit").write_text("#!/bin/sh\necho 'error: no commits today' >&2\nexit 1\n")
    (hooks / "pre-commit").chmod(0o755)
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.hooksPath")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(hooks))
    result = new(runner, "--no-input", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "mlprod: warning: the first git commit failed (error: no commits today); "
        "the files are staged in a new repository, commit them yourself\n"
    )
    project = tmp_path / "out" / "iris-classifier"
    assert "A  README.md" in git(project, "status", "--porcelain").splitlines()


def test_records_provenance_of_the_project(runner: CliRunner, tmp_path: Path) -> None:
    new(runner, "--no-input", "-o", str(tmp_path), "--set", "author_name=Ada Lovelace")
    provenance = json.loads((tmp_path / "iris-classifier" / ".mlprod.json").read_text())
    assert provenance == {
        "format": 1,
        "mlprod_version": __version__,
        "template_version": __version__,
        "answers": {
            "project_name": "Iris Classifier",
            "description": "A machine-learning model served as a REST API.",
            "author_name": "Ada Lovelace",
            "author_email": "you@example.com",
            "task": "classification",
            "framework": "sklearn",
        },
    }


def test_interactive_prompts_for_each_answer(runner: CliRunner, tmp_path: Path) -> None:
    answers = "Fraud Detector\nFlags fraud.\nGrace Hopper\ngrace@example.org\n2\n1\n"
    result = new(runner, "-o", str(tmp_path), answers=answers)
    assert result.exit_code == 0, result.output
    for prompt in (
        "Project name",
        "Short description",
        "Author name",
        "Author e-mail",
        "What the model predicts",
        "framework",
    ):
        assert prompt in result.stdout
    assert provenance_task(tmp_path / "fraud-detector") == "regression"
    provenance = json.loads((tmp_path / "fraud-detector" / ".mlprod.json").read_text())
    assert provenance["answers"]["author_email"] == "grace@example.org"
    assert provenance["answers"]["description"] == "Flags fraud."


def test_set_is_repeatable_and_later_values_win(runner: CliRunner, tmp_path: Path) -> None:
    result = new(
        runner, "--no-input", "-o", str(tmp_path),
        "--set", "project_name=First", "--set", "project_name=Second Model",
        "--set", "description=Scores = risk",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    provenance = json.loads((tmp_path / "second-model" / ".mlprod.json").read_text())
    assert provenance["answers"]["description"] == "Scores = risk"


def test_config_file_supplies_answers_and_set_overrides_them(
    runner: CliRunner, tmp_path: Path
) -> None:
    config = tmp_path / "team.yaml"
    config.write_text("project_name: Churn Model\nauthor_name: Data Team\n")
    result = new(
        runner, "--no-input", "-o", str(tmp_path / "out"), "--config-file", str(config),
        "--set", "author_name=Me",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    provenance = json.loads((tmp_path / "out" / "churn-model" / ".mlprod.json").read_text())
    assert provenance["answers"]["author_name"] == "Me"


def test_config_file_in_cookiecutter_default_context_form(
    runner: CliRunner, tmp_path: Path
) -> None:
    config = tmp_path / "team.yaml"
    config.write_text("default_context:\n  project_name: Price Forecaster\n")
    result = new(runner, "--no-input", "-o", str(tmp_path / "out"), "--config-file", str(config))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "price-forecaster").is_dir()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--set", "project_name=!!"],
            "mlprod: project_name '!!' gives no valid package name (''); "
            "use letters, digits and spaces, starting with a letter\n",
        ),
        (
            ["--set", "project_name=3D Model"],
            "mlprod: project_name '3D Model' gives no valid package name ('3d_model'); "
            "use letters, digits and spaces, starting with a letter\n",
        ),
        (
            ["--set", "project_name=Class"],
            "mlprod: project_name 'Class' gives the package name 'class', "
            "a Python keyword; choose another name\n",
        ),
        (
            ["--set", "project_name=JSON"],
            "mlprod: project_name 'JSON' gives the package name 'json', "
            "which would shadow Python's standard library; choose another name\n",
        ),
        (
            ["--set", "project_name=SKLearn"],
            "mlprod: project_name 'SKLearn' gives the package name 'sklearn', the import name "
            "of scikit-learn, which the project may depend on; choose another name\n",
        ),
        (
            ["--set", "project_name=Test"],
            "mlprod: project_name 'Test' gives the package name 'test', a top-level name "
            "that test runners and tools already use; choose another name\n",
        ),
        (
            ["--set", "author_email=not-an-address"],
            "mlprod: author_email 'not-an-address' is not an e-mail address; "
            "give one like name@example.com\n",
        ),
        (
            ["--set", "framework=torch"],
            "mlprod: framework 'torch' is not supported; "
            "choose one of: sklearn, xgboost, lightgbm, pytorch\n",
        ),
        (
            ["--set", "colour=blue"],
            "mlprod: unknown answer 'colour' in --set; the template asks for: "
            "project_name, description, author_name, author_email, task, framework\n",
        ),
        (["--set", "project_name"], "mlprod: --set expects KEY=VALUE, got 'project_name'\n"),
        (
            ["--set", "description=two\nlines"],
            "mlprod: description 'two\\nlines' contains a line break or control character; "
            "give it on one line\n",
        ),
        (
            ["--set", "description=Uses {{ braces }}"],
            "mlprod: description 'Uses {{ braces }}' contains template syntax ({{, {%, {#), "
            "which cookiecutter would evaluate; leave it out\n",
        ),
    ],
    ids=["no-package", "leading-digit", "keyword", "stdlib", "dependency", "common-name",
         "email", "framework", "unknown-key", "set-syntax", "newline", "jinja"],
)  # fmt: skip
def test_bad_answer_is_one_line_and_writes_nothing(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    output = tmp_path / "out"
    result = new(runner, "--no-input", "-o", str(output), *args)
    assert result.exit_code == 1
    assert result.stderr == message
    assert result.stdout == ""
    assert not output.exists()


def test_bad_answer_in_config_file_is_named(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "team.yaml"
    config.write_text("project_nam: Typo\n")
    result = new(runner, "--no-input", "-o", str(tmp_path / "out"), "--config-file", str(config))
    assert result.exit_code == 1
    assert result.stderr.startswith("mlprod: unknown answer 'project_nam' in --config-file;")
    assert not (tmp_path / "out").exists()


def test_config_file_that_is_not_yaml_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "team.yaml"
    config.write_text("project_name: [unclosed\n")
    result = new(runner, "--no-input", "-o", str(tmp_path), "--config-file", str(config))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"mlprod: --config-file {config} is not valid YAML:")
    assert result.stderr.count("\n") == 1


def test_config_file_that_is_not_a_mapping_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "team.yaml"
    config.write_text("- project_name\n")
    result = new(runner, "--no-input", "-o", str(tmp_path), "--config-file", str(config))
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: --config-file {config} must hold a mapping of answers (KEY: VALUE)\n"
    )


def test_missing_config_file_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    result = new(runner, "--no-input", "-o", str(tmp_path), "--config-file", str(tmp_path / "no"))
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: cannot read --config-file {tmp_path / 'no'}: No such file or directory\n"
    )


def test_existing_project_is_refused_and_left_untouched(runner: CliRunner, tmp_path: Path) -> None:
    project = tmp_path / "iris-classifier"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    result = new(runner, "--no-input", "-o", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: {project} already exists; pass --overwrite to write over it, "
        "or choose another --output-dir\n"
    )
    assert listing(tmp_path) == ["iris-classifier", "iris-classifier/notes.txt"]


def test_overwrite_writes_the_template_over_an_existing_project(
    runner: CliRunner, tmp_path: Path
) -> None:
    project = tmp_path / "iris-classifier"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    (project / "README.md").write_text("stale")
    result = new(runner, "--no-input", "-o", str(tmp_path), "--overwrite")
    assert result.exit_code == 0, result.output
    assert (project / "notes.txt").read_text() == "mine"
    assert (project / "README.md").read_text() != "stale"
    assert (project / ".mlprod.json").is_file()


def test_failure_part_way_leaves_nothing_behind(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlprod_cli.templating import provenance

    def broken(*args: object, **kwargs: object) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(provenance.Provenance, "write", broken)
    output = tmp_path / "deep" / "out"
    result = new(runner, "--no-input", "-o", str(output))
    assert result.exit_code == 1
    assert result.stderr == (
        f"mlprod: cannot write the project into {output}: No space left on device\n"
    )
    assert listing(tmp_path) == []


def test_failure_part_way_keeps_an_existing_output_dir_as_it_was(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlprod_cli.templating import provenance

    def broken(*args: object, **kwargs: object) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(provenance.Provenance, "write", broken)
    (tmp_path / "other.txt").write_text("kept")
    result = new(runner, "--no-input", "-o", str(tmp_path))
    assert result.exit_code == 1
    assert listing(tmp_path) == ["other.txt"]


def test_debug_mode_shows_the_traceback(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLPROD_DEBUG", "1")
    result = new(runner, "--no-input", "-o", str(tmp_path), "--set", "project_name=!!")
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "InvalidAnswer"


def provenance_task(project: Path) -> str:
    return str(json.loads((project / ".mlprod.json").read_text())["answers"]["task"])
