"""Which migrations an update runs, and in which order."""

from __future__ import annotations

from typing import Any

from mlprod_cli.updating.migrations import BUNDLED, Migration, between, migrate_answers


def _rename(answers: dict[str, Any]) -> dict[str, Any]:
    renamed = dict(answers)
    renamed["model_family"] = renamed.pop("framework")
    return renamed


STEPS = [
    Migration("0.3.0", "c"),
    Migration("0.2.0", "a"),
    Migration("0.10.0", "d"),
    Migration("0.1.0", "before"),
    Migration("0.2.0", "b", answers=_rename),
]


def test_between_takes_the_versions_after_the_old_up_to_the_new_in_version_order() -> None:
    assert [step.summary for step in between("0.1.0", "0.10.0", STEPS)] == ["a", "b", "c", "d"]
    assert [step.summary for step in between("0.1.0", "0.3.0", STEPS)] == ["a", "b", "c"]
    assert between("0.3.0", "0.3.0", STEPS) == []


def test_answers_pass_through_each_step_in_turn() -> None:
    steps = between("0.1.0", "0.3.0", STEPS)
    assert migrate_answers({"framework": "sklearn"}, steps) == {"model_family": "sklearn"}


def test_no_release_has_needed_a_migration_yet() -> None:
    assert BUNDLED == ()
