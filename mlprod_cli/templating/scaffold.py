"""Render the bundled template into a new project, all or nothing."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlprod_cli import __version__
from mlprod_cli.errors import UserError
from mlprod_cli.templating import cookiecutter_adapter
from mlprod_cli.templating.answers import InvalidAnswer, public_keys, validate
from mlprod_cli.templating.provenance import Provenance
from mlprod_cli.templating.source import TemplateSource

# cookiecutter renders answers as Jinja templates before using them.
_JINJA_MARKS = ("{{", "{%", "{#")


@dataclass(frozen=True)
class Created:
    """A project `mlprod new` made."""

    path: Path
    slug: str
    package: str


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """`["KEY=VALUE", ...]` as a mapping; the value may itself contain `=`."""
    answers: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects KEY=VALUE, got {item!r}")
        answers[key.strip()] = value
    return answers


def read_answers_file(path: Path) -> dict[str, Any]:
    """Answers from a YAML file: a plain mapping, or cookiecutter's `default_context:` form."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UserError(f"cannot read --config-file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise UserError(
            f"--config-file {path} is not valid YAML: {error}".splitlines()[0]
        ) from None
    if data is None:
        return {}
    if isinstance(data, dict) and isinstance(data.get("default_context"), dict):
        data = data["default_context"]
    if not isinstance(data, dict):
        raise UserError(f"--config-file {path} must hold a mapping of answers (KEY: VALUE)")
    return {str(key): value for key, value in data.items()}


def gather_answers(
    source: TemplateSource,
    defaults: Mapping[str, Any],
    overrides: Mapping[str, Any],
    no_input: bool,
) -> dict[str, Any]:
    """The complete, validated answers: defaults < config file < `--set`, then prompts.

    Derived names (`__project_slug`, `__package_name`, `__model_name`) are rendered too.
    Nothing is written.
    """
    from cookiecutter.generate import generate_context
    from cookiecutter.prompt import prompt_for_config

    template_context = source.context()
    known = public_keys(template_context)
    choices = source.choices()
    for origin, given in (("--config-file", defaults), ("--set", overrides)):
        for key, value in given.items():
            if key not in known:
                raise InvalidAnswer(
                    f"unknown answer {key!r} in {origin}; the template asks for: {', '.join(known)}"
                )
            if isinstance(value, str) and any(mark in value for mark in _JINJA_MARKS):
                raise InvalidAnswer(
                    f"{key} {value!r} contains template syntax ({', '.join(_JINJA_MARKS)}), "
                    "which cookiecutter would evaluate; leave it out"
                )
            if key in choices and value not in choices[key]:
                raise InvalidAnswer(
                    f"{key} {value!r} is not supported; choose one of: {', '.join(choices[key])}"
                )
    context = generate_context(
        context_file=str(source.root / "cookiecutter.json"),
        default_context=dict(defaults),
        extra_context=dict(overrides),
    )
    answers: dict[str, Any] = dict(prompt_for_config(context, no_input))
    validate(answers, choices)
    return answers


def render(
    source: TemplateSource, answers: Mapping[str, Any], output_dir: Path, overwrite: bool = False
) -> Created:
    """Render the project into `output_dir/<slug>`.

    The project is rendered beside its destination and moved into place only once
    complete, so a failure leaves nothing behind. An existing project is refused
    unless `overwrite`, which writes the template's files over it and keeps the rest.
    """
    from cookiecutter.exceptions import CookiecutterException

    slug = str(answers["__project_slug"])
    target = output_dir / slug
    if target.exists() and not overwrite:
        raise UserError(
            f"{target} already exists; pass --overwrite to write over it, "
            "or choose another --output-dir"
        )
    if target.exists() and not target.is_dir():
        raise UserError(
            f"{target} exists and is not a directory; remove it or choose another --output-dir"
        )
    created = _make_dirs(output_dir)
    try:
        with tempfile.TemporaryDirectory(prefix=f".{slug}-", dir=output_dir) as scratch_name:
            rendered = render_tree(source, answers, Path(scratch_name))
            given = {key: answers[key] for key in public_keys(answers)}
            Provenance(
                mlprod_version=__version__, template_version=__version__, answers=given
            ).write(rendered)
            if target.exists():
                shutil.copytree(rendered, target, dirs_exist_ok=True)
            else:
                rendered.rename(target)
    except CookiecutterException as error:
        _remove(created)
        raise UserError(f"the template could not be rendered: {error}") from error
    except OSError as error:
        _remove(created)
        raise UserError(
            f"cannot write the project into {output_dir}: {error.strerror or error}"
        ) from error
    except BaseException:
        _remove(created)
        raise
    return Created(path=target, slug=slug, package=str(answers["__package_name"]))


def render_tree(source: TemplateSource, answers: Mapping[str, Any], scratch: Path) -> Path:
    """Render the template into `scratch` and return the rendered project folder.

    `scratch` is an empty folder the caller owns and removes. `mlprod new` moves the
    result into place; `mlprod update` renders two versions this way and merges them.
    Raises `InvalidAnswer`, or cookiecutter's exceptions when the template cannot be
    rendered.
    """
    return cookiecutter_adapter.render(source, answers, scratch)


def _make_dirs(path: Path) -> Path | None:
    """Create `path` and its missing parents; return the topmost folder created, if any."""
    missing = [parent for parent in (path, *path.parents) if not parent.exists()]
    if not missing:
        return None
    try:
        path.mkdir(parents=True)
    except OSError as error:
        raise UserError(f"cannot create --output-dir {path}: {error.strerror}") from None
    return missing[-1]


def _remove(created: Path | None) -> None:
    if created is not None:
        shutil.rmtree(created, ignore_errors=True)
