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
`mlprod_cli.hooks` (`pre_generate(context)`, then `post_generate(project folder)`), so
this renders with `accept_hooks=False` and calls those two functions itself, as the
scripts do, in the same order: nothing in `/tmp`, and two Python start-ups saved.
`tests/test_cookiecutter_adapter.py` checks that the project is the same, file for file
and byte for byte, as cookiecutter's own render running the hook scripts.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlprod_cli.templating.answers import InvalidAnswer

COPY_WITHOUT_RENDER = "_copy_without_render"


def render(
    template: Path, answers: Mapping[str, Any], scratch: Path, verbatim: Sequence[str] = ()
) -> Path:
    """Render the staged `template` with complete `answers` into `scratch/out`; the project.

    `scratch` is a folder the caller owns and removes; cookiecutter's configuration and
    replay file go there too.

    `template` is a copy the caller owns: `verbatim` (paths without template syntax) is
    added to its `cookiecutter.json` `_copy_without_render`, so cookiecutter copies those
    files instead of compiling each as a Jinja template. Raises `InvalidAnswer` when the
    pre-generation check refuses the answers (nothing is written then), and
    cookiecutter's exceptions when the template cannot be rendered.
    """
    from cookiecutter.main import cookiecutter

    from mlprod_cli import hooks

    refused = io.StringIO()
    if hooks.pre_generate(dict(answers), stderr=refused) != 0:
        raise InvalidAnswer(refused.getvalue().strip().removeprefix("mlprod: "))
    if verbatim:
        _copy_without_render(template / "cookiecutter.json", verbatim)
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
    hooks.post_generate(project)
    return project


def _copy_without_render(context_file: Path, verbatim: Sequence[str]) -> None:
    context = json.loads(context_file.read_text(encoding="utf-8"))
    context[COPY_WITHOUT_RENDER] = [*context.get(COPY_WITHOUT_RENDER, []), *verbatim]
    context_file.write_text(json.dumps(context, indent=2), encoding="utf-8")
