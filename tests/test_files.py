"""Several files change together, or none does."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlprod_cli.errors import UserError
from mlprod_cli.project import files
from mlprod_cli.project.files import write_files


def test_writes_every_file_exactly(tmp_path: Path) -> None:
    old = tmp_path / "old.txt"
    old.write_text("before\n")
    new = tmp_path / "new.txt"
    write_files({old: "after\r\n", new: "fresh\n"})
    assert old.read_bytes() == b"after\r\n"
    assert new.read_bytes() == b"fresh\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["new.txt", "old.txt"]


def test_keeps_a_file_s_permissions(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("echo old\n")
    script.chmod(0o750)
    write_files({script: "echo new\n"})
    assert stat.S_IMODE(script.stat().st_mode) == 0o750


def test_a_new_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_files({tmp_path / "new.txt": "x"})
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644


def test_a_failure_leaves_every_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("a\n")
    second.write_text("b\n")
    real_stage = files._stage

    def stage(path: Path, text: str) -> Path:
        if path == second:
            raise OSError(28, "No space left on device")
        return real_stage(path, text)

    monkeypatch.setattr(files, "_stage", stage)
    with pytest.raises(UserError) as caught:
        write_files({first: "A\n", second: "B\n"})
    assert str(caught.value) == f"cannot write {second}: No space left on device"
    assert (first.read_text(), second.read_text()) == ("a\n", "b\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_a_missing_folder_is_reported(tmp_path: Path) -> None:
    target = tmp_path / "absent" / "a.txt"
    with pytest.raises(UserError) as caught:
        write_files({target: "x"})
    assert str(caught.value) == f"cannot write {target}: No such file or directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write read-only files")
def test_a_read_only_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("a\n")
    target.chmod(0o444)
    with pytest.raises(UserError) as caught:
        write_files({target: "b\n"})
    assert str(caught.value) == f"cannot write {target}: Permission denied"
    assert target.read_text() == "a\n"
