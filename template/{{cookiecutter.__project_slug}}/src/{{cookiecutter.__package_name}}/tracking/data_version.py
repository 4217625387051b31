"""Data under DVC: the hash DVC tracks a data file by, and refusing data that changed since.

A data file is under DVC when ``dvc add`` made a ``.dvc`` file for it (``data/iris.csv.dvc``)
or for a folder holding it (``data.dvc``), inside a DVC repository (a folder with
``.dvc/``). Then training asks DVC (the ``dvc`` extra) whether the file still matches what
was added: a changed file is refused until it is added again (``dvc add``), or trained on
anyway when told (``train --allow-dirty-data``), in which case no DVC hash is recorded,
since none describes it. Data outside DVC is not looked at, and DVC is not imported.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


class DataVersionError(Exception):
    """The data is under DVC and cannot be used as it is (changed, missing, DVC absent)."""


@dataclass(frozen=True)
class DataVersion:
    """What DVC says of a data file."""

    dvc_file: Path
    md5: str
    """The hash the ``.dvc`` file records (a folder's ends in ``.dir``)."""
    changes: dict[str, str]
    """Changed paths and how (``modified``, ``deleted``...); empty when it matches."""


def find_dvc_file(data_path: Path) -> Path | None:
    """The ``.dvc`` file tracking ``data_path`` (or a folder holding it), if any."""
    path = data_path.resolve()
    root = _repository_root(path)
    if root is None:
        return None
    for candidate in (path, *path.parents):
        if candidate == root:
            return None
        dvc_file = candidate.with_name(candidate.name + ".dvc")
        if dvc_file.is_file():
            return dvc_file
    return None


def data_version(data_path: Path) -> DataVersion | None:
    """DVC's view of ``data_path``: None when it is not under DVC."""
    dvc_file = find_dvc_file(data_path)
    if dvc_file is None:
        return None
    if importlib.util.find_spec("dvc") is None:
        raise DataVersionError(
            f"{data_path} is under DVC ({dvc_file.name}) and DVC is not installed: "
            "pip install -e '.[dvc]'"
        )
    from dvc.repo import Repo

    root = _repository_root(dvc_file)
    with Repo(str(root)) as repo:
        status = repo.status(targets=[str(dvc_file)])
        outputs = repo.stage.load_one(str(dvc_file)).outs
    changes: dict[str, str] = {}
    for entries in status.values():
        for entry in entries:
            if isinstance(entry, dict):  # {"changed outs": {"data/iris.csv": "modified"}}
                for changed in entry.values():
                    changes.update(changed)
            else:  # a stage-wide state, e.g. "changed checksum"
                changes[dvc_file.name] = str(entry)
    md5 = outputs[0].hash_info.value if outputs else None
    return DataVersion(dvc_file=dvc_file, md5=str(md5 or ""), changes=changes)


def checked_md5(data_path: Path, *, allow_dirty: bool = False) -> str | None:
    """The DVC hash to record for training on ``data_path``; None outside DVC.

    Refuses data whose DVC status is not clean, unless ``allow_dirty`` (then None: the
    recorded hash describes other data).
    """
    version = data_version(data_path)
    if version is None:
        return None
    if not version.changes:
        return version.md5
    if allow_dirty:
        return None
    changes = ", ".join(f"{path} {how}" for path, how in version.changes.items())
    raise DataVersionError(
        f"{data_path} does not match {version.dvc_file.name} ({changes}): record it with "
        f"`dvc add {data_path}` (or restore it with `dvc checkout`), or train on it anyway "
        "with --allow-dirty-data"
    )


def _repository_root(path: Path) -> Path | None:
    for directory in path.parents:
        if (directory / ".dvc").is_dir():
            return directory
    return None
