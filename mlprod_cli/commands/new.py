"""`mlprod new`: scaffold a project from the bundled template."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from mlprod_cli import console


def new(
    output_dir: Annotated[
        Path,
        typer.Option(
            "--output-dir", "-o", help="Folder to create the project in.", file_okay=False
        ),
    ] = Path("."),
    no_input: Annotated[
        bool,
        typer.Option(
            "--no-input",
            help="Take the defaults (and --set / --config-file answers) without asking.",
        ),
    ] = False,
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Answer one question, e.g. project_name='Credit Risk'. Repeatable.",
        ),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config-file",
            help="YAML file of answers (KEY: VALUE), e.g. a team's defaults.",
            dir_okay=False,
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Write over an existing project folder, keeping files the template does not make.",
        ),
    ] = False,
    no_git: Annotated[
        bool,
        typer.Option(
            "--no-git",
            help="Do not make the project a git repository with the generated files committed.",
        ),
    ] = False,
) -> None:
    """Scaffold a model project: package, REST API, uWSGI, Dockerfile, tests.

    The project trains, serves and answers on the first try. Answers are checked
    before anything is written; a failure leaves nothing behind. Then the project
    becomes a git repository whose first commit is what the template made (unless
    --no-git, or it is inside a repository already).
    """
    from mlprod_cli.templating.scaffold import (
        gather_answers,
        parse_assignments,
        read_answers_file,
        render,
    )
    from mlprod_cli.templating.source import bundled_template
    from mlprod_cli.templating.store import TemplateStore

    source = bundled_template()
    defaults = read_answers_file(config_file) if config_file else {}
    answers = gather_answers(source, defaults, parse_assignments(assignments or []), no_input)
    project = render(source, answers, output_dir.resolve(), overwrite=overwrite)
    TemplateStore().remember_bundled()

    typer.echo(f"Created {project.slug} in {project.path}")
    if not no_git:
        _initialise_git(project.path, answers)
    typer.echo("")
    typer.echo("Next steps:")
    typer.echo(f"  cd {shlex.quote(console.shown(project.path))}")
    typer.echo("  python3 -m venv .venv && .venv/bin/pip install -e '.[api,dev,train]'")
    typer.echo(f"  .venv/bin/{project.slug} train && .venv/bin/uwsgi --ini uwsgi.ini")


def _initialise_git(folder: Path, answers: dict[str, Any]) -> None:
    """Commit the new project in a git repository of its own, and say what happened."""
    from mlprod_cli import __version__
    from mlprod_cli.vcs import Outcome, initialise

    done = initialise(
        folder,
        f"Initial commit from the mlprod {__version__} template",
        name=str(answers["author_name"]),
        email=str(answers["author_email"]),
    )
    if done.outcome is Outcome.COMMITTED:
        typer.echo("Initialised a git repository in it and committed the generated files")
    elif done.outcome is Outcome.INSIDE_REPOSITORY:
        typer.echo(f"It is inside the git repository {done.detail}: commit it there")
    elif done.outcome is Outcome.NO_GIT:
        typer.echo("git is not installed, so it is not a git repository")
    else:
        console.warn(
            f"the first git commit failed ({done.detail}); "
            "the files are staged in a new repository, commit them yourself"
        )
