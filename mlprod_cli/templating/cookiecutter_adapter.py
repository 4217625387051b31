"""The one place mlprod has cookiecutter render a template.

It calls cookiecutter's public entry point, `cookiecutter.main.cookiecutter()`, with
complete answers (`no_input`, `extra_context`), an output folder the caller owns, and a
cookiecutter configuration file of its own: the user's `~/.cookiecutterrc` defaults do
not leak into a project, and the replay file cookiecutter always writes lands beside
the output instead of in `~/.cookiecutter_replay`. Nothing process-wide is changed here
(no `tempfile.tempdir`, no working directory; cookiecutter itself enters the template
and project folders with `cookiecutter.utils.work_in` while it renders, and leaves them).

One cookiecutter behaviour is worked around: cookiecutter 2.7 renders every hook script
into `tempfile.NamedTemporaryFile(delete=False)` in the system temp folder, runs it in a
new Python process and never deletes the file (`cookiecutter.hooks.
run_script_with_context`). Keeping those files out of `/tmp` would take changing
`tempfile.tempdir` for the whole process. mlprod's hook scripts are thin calls into
`mlprod_cli.hooks` (`pre_generate(context)`, then `post_generate(project folder, context)`), so
this renders with `accept_hooks=False` and calls those two functions itself, as the
scripts do, in the same order: nothing in `/tmp`, and two Python start-ups saved.
`tests/test_cookiecutter_adapter.py` checks that the project is the same, file for file
and byte for byte, as cookiecutter's own render running the hook scripts.

Without hook scripts to run, cookiecutter needs no hooks folder beside
`cookiecutter.json`, so the template is not copied either (`lay_out`): its project
folder is linked, which on a slow file system saves most of `mlprod new`'s own time.
"""

from __future__ import annotations

import fnmatch
import io
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlprod_cli.templating.answers import InvalidAnswer
from mlprod_cli.templating.source import CACHES, TemplateSource, verbatim_files

COPY_WITHOUT_RENDER = "_copy_without_render"


def render(source: TemplateSource, answers: Mapping[str, Any], scratch: Path) -> Path:
    """Render `source` with complete `answers` into `scratch/out`; the project folder.

    `scratch` is an empty folder the caller owns and removes; the template's layout for
    cookiecutter, its configuration and its replay file go there too. Raises
    `InvalidAnswer` when the pre-generation check refuses the answers (nothing is
    written then), and cookiecutter's exceptions when the template cannot be rendered.
    """
    from cookiecutter.main import cookiecutter

    from mlprod_cli import hooks

    refused = io.StringIO()
    if hooks.pre_generate(dict(answers), stderr=refused) != 0:
        raise InvalidAnswer(refused.getvalue().strip().removeprefix("mlprod: "))
    template = lay_out(source, scratch / "template")
    config = scratch / "cookiecutter-config.json"
    # JSON is YAML, which is what cookiecutter reads its configuration file as.
    settings = {"replay_dir": "replay", "cookiecutters_dir": "cookiecutters"}
    config.write_text(json.dumps({k: str(scratch / v) for k, v in settings.items()}))
    project = Path(
        cookiecutter(
            str(template),
            no_input=True,
            extra_context={key: value for key, value in answers.items() if key[:1] != "_"},
            output_dir=str(scratch / "out"),
            config_file=str(config),
            accept_hooks=False,
        )
    )
    _remove_caches(project)
    hooks.post_generate(project, answers)
    return project


def lay_out(source: TemplateSource, destination: Path) -> Path:
    """The template as cookiecutter reads it, at `destination`, without copying its files.

    `cookiecutter.json` is copied, with the files that hold no template syntax added to
    its `_copy_without_render` (cookiecutter copies those instead of compiling each as a
    Jinja template); the project folder is a symbolic link to the template's own, which
    cookiecutter only reads (copied where links cannot be made). No hooks folder: this
    adapter calls the hooks' functions itself.
    """
    destination.mkdir(parents=True)
    for entry in source.root.iterdir():
        if entry.is_dir() and "{{" in entry.name:
            try:
                (destination / entry.name).symlink_to(entry, target_is_directory=True)
            except OSError:
                shutil.copytree(
                    entry, destination / entry.name, ignore=shutil.ignore_patterns(*CACHES)
                )
    context = json.loads((source.root / "cookiecutter.json").read_text(encoding="utf-8"))
    verbatim = verbatim_files(destination)
    context[COPY_WITHOUT_RENDER] = [*context.get(COPY_WITHOUT_RENDER, []), *verbatim]
    (destination / "cookiecutter.json").write_text(json.dumps(context, indent=2), encoding="utf-8")
    return destination


def _remove_caches(project: Path) -> None:
    """Byte code and tool caches in the template (pip compiles an installed one) stay out."""
    for path in sorted(project.rglob("*"), reverse=True):
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in CACHES):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
