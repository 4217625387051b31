"""A generated project as data: its `[tool.mlprod]` settings, models, manifests and data.

- `config`: finding the project and reading `[tool.mlprod]` once; `--project`, `--python`.
- `models`: the trained versions in its models folder, one `TrainedModel` per manifest.
- `schema`: a manifest's input schema.
- `data`: the project's rows, read and typed by that schema.
- `environment`: the project's own virtual environment.
"""

from mlprod_cli.project.config import (
    CHANGELOG,
    MODELS,
    PYPROJECT,
    NotAProject,
    Project,
    find_project,
    load_project,
    package_name,
    project_python,
    resolve_project,
)

__all__ = [
    "CHANGELOG",
    "MODELS",
    "PYPROJECT",
    "NotAProject",
    "Project",
    "find_project",
    "load_project",
    "package_name",
    "project_python",
    "resolve_project",
]
