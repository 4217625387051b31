"""A new line under a changelog's "Unreleased" heading, wherever that heading is."""

from __future__ import annotations

import pytest

from mlprod_cli.release.changelog import add_entry

ENTRY = "- Model version 0.2.0 (minor bump from 0.1.0, 2026-11-26): retrained."


def test_entry_goes_first_under_unreleased() -> None:
    text = "# Changelog\n\nIntro.\n\n## Unreleased\n\n- Older.\n\n## 0.1.0\n\n- Oldest.\n"
    assert add_entry(text, ENTRY) == (
        f"# Changelog\n\nIntro.\n\n## Unreleased\n\n{ENTRY}\n- Older.\n\n## 0.1.0\n\n- Oldest.\n"
    )


@pytest.mark.parametrize("heading", ["## [Unreleased]", "## unreleased", "##  Unreleased  "])
def test_keep_a_changelog_headings_are_recognised(heading: str) -> None:
    assert add_entry(f"# Changelog\n\n{heading}\n", ENTRY) == (
        f"# Changelog\n\n{heading}\n\n{ENTRY}\n"
    )


def test_an_empty_unreleased_section_is_filled() -> None:
    text = "# Changelog\n\n## Unreleased\n\n## 0.1.0\n- Oldest.\n"
    assert add_entry(text, ENTRY) == (
        f"# Changelog\n\n## Unreleased\n\n{ENTRY}\n\n## 0.1.0\n- Oldest.\n"
    )


def test_subsections_stay_below_the_entry() -> None:
    text = "# Changelog\n\n## Unreleased\n### Added\n- A thing.\n"
    assert add_entry(text, ENTRY) == (
        f"# Changelog\n\n## Unreleased\n\n{ENTRY}\n\n### Added\n- A thing.\n"
    )


def test_unreleased_is_added_above_the_first_section() -> None:
    text = "# Changelog\n\nWhat changed.\n\n## 0.1.0\n\n- Oldest.\n"
    assert add_entry(text, ENTRY) == (
        f"# Changelog\n\nWhat changed.\n\n## Unreleased\n\n{ENTRY}\n\n## 0.1.0\n\n- Oldest.\n"
    )


def test_unreleased_is_added_after_a_lone_title() -> None:
    assert add_entry("# Changelog\n\n\n", ENTRY) == f"# Changelog\n\n## Unreleased\n\n{ENTRY}\n"


@pytest.mark.parametrize("text", [None, "", "\n"])
def test_a_missing_changelog_is_created(text: str | None) -> None:
    assert add_entry(text, ENTRY) == f"# Changelog\n\n## Unreleased\n\n{ENTRY}\n"


def test_a_last_line_without_a_newline_gets_one() -> None:
    assert add_entry("# Changelog\n\n## Unreleased\n\n- Older.", ENTRY) == (
        f"# Changelog\n\n## Unreleased\n\n{ENTRY}\n- Older.\n"
    )


def test_windows_line_endings_are_kept() -> None:
    text = "# Changelog\r\n\r\n## Unreleased\r\n\r\n- Older.\r\n"
    assert add_entry(text, ENTRY) == (
        f"# Changelog\r\n\r\n## Unreleased\r\n\r\n{ENTRY}\r\n- Older.\r\n"
    )


def test_only_the_first_unreleased_heading_gets_the_entry() -> None:
    text = "# C\n\n## Unreleased\n\n- New.\n\n## Unreleased\n\n- Odd.\n"
    assert add_entry(text, ENTRY).count(ENTRY) == 1
    assert add_entry(text, ENTRY).startswith(f"# C\n\n## Unreleased\n\n{ENTRY}\n- New.\n")
