"""`.mlprod.json`: format 1 as `mlprod new` writes it, and the pending update an update adds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlprod_cli.templating.provenance import PendingUpdate, Provenance, ProvenanceError

ANSWERS = {"project_name": "Iris Classifier", "framework": "sklearn"}


def test_a_format_1_file_reads_without_a_pending_update(tmp_path: Path) -> None:
    (tmp_path / ".mlprod.json").write_text(
        json.dumps({"format": 1, "mlprod_version": "0.1.0", "template_version": "0.1.0",
                    "answers": ANSWERS})
    )  # fmt: skip
    assert Provenance.read(tmp_path) == Provenance("0.1.0", "0.1.0", ANSWERS)


def test_without_a_pending_update_the_file_is_format_1_as_before(tmp_path: Path) -> None:
    Provenance("0.1.0", "0.1.0", ANSWERS).write(tmp_path)
    assert json.loads((tmp_path / ".mlprod.json").read_text()) == {
        "format": 1, "mlprod_version": "0.1.0", "template_version": "0.1.0", "answers": ANSWERS,
    }  # fmt: skip


def test_a_pending_update_round_trips(tmp_path: Path) -> None:
    pending = PendingUpdate("0.2.0", {**ANSWERS, "description": "new"}, ["README.md"])
    written = Provenance("0.1.0", "0.1.0", ANSWERS, pending_update=pending)
    written.write(tmp_path)
    assert Provenance.read(tmp_path) == written
    assert json.loads((tmp_path / ".mlprod.json").read_text())["pending_update"] == {
        "template_version": "0.2.0",
        "answers": {**ANSWERS, "description": "new"},
        "conflicts": ["README.md"],
    }


def test_a_malformed_pending_update_is_named(tmp_path: Path) -> None:
    path = tmp_path / ".mlprod.json"
    path.write_text(
        json.dumps({"mlprod_version": "0.1.0", "template_version": "0.1.0", "answers": {},
                    "pending_update": {"template_version": "0.2.0", "answers": {},
                                       "conflicts": "README.md"}})
    )  # fmt: skip
    with pytest.raises(ProvenanceError) as caught:
        Provenance.read(tmp_path)
    assert str(caught.value) == f"{path}: pending_update.conflicts must be a list of paths"
