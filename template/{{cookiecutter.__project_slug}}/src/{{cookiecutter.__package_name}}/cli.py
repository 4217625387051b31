"""The project's command line: ``train`` a new model version into the registry."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .model.registry import RegistryError, manifest_path
from .model.train import (
    DEFAULT_SEED,
    DatasetError,
    ProjectConfigError,
    find_project_config,
    train,
)

_USER_ERRORS = (DatasetError, ProjectConfigError, RegistryError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (user errors: one line on stderr, 1)."""
    args = _parser().parse_args(argv)
    try:
        return args.command(args)
    except _USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _train(args: argparse.Namespace) -> int:
    project = find_project_config()
    data = args.data or _shortest(project.root / "data" / "iris.csv")
    models_dir = args.models_dir or _shortest(project.root / "models")
    manifest = train(data, models_dir, project.model_name, project.model_version, seed=args.seed)
    print(f"Trained {manifest.name} {manifest.version} on {data}")
    for metric, value in manifest.metrics.items():
        print(f"  {metric:<10} {value:.4f}")
    print(f"  {'artifact':<10} {models_dir / manifest.artifact.file}")
    print(f"  {'manifest':<10} {manifest_path(models_dir, manifest.name, manifest.version)}")
    return 0


def _shortest(path: Path) -> Path:
    """``path`` relative to the current directory when that is shorter, else as it is."""
    relative = Path(os.path.relpath(path))
    return relative if len(str(relative)) < len(str(path)) else path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    train_parser = commands.add_parser(
        "train",
        help="train the model version named in pyproject.toml and register it",
        description="Train the model version named in [tool.mlprod] of pyproject.toml, "
        "evaluate it on held-out rows and write its artifact and manifest.",
    )
    train_parser.add_argument(
        "--data", type=Path, help="training CSV, target in the last column (default: data/iris.csv)"
    )
    train_parser.add_argument(
        "--models-dir", type=Path, help="the model registry directory (default: models)"
    )
    train_parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)"
    )
    train_parser.set_defaults(command=_train)
    return parser


if __name__ == "__main__":
    sys.exit(main())
