"""Add a line to a project's `CHANGELOG.md`, under its "Unreleased" heading.

The newest line goes first, right under the heading. A changelog without an
"Unreleased" heading gets one above its first section (after the title and its
introduction); a project without a changelog gets a new one.
"""

from __future__ import annotations

import re

UNRELEASED = "## Unreleased"
NEW_CHANGELOG = "# Changelog\n"

_UNRELEASED = re.compile(r"##\s+\[?unreleased\]?\s*", re.IGNORECASE)
_SECTION = re.compile(r"##\s.*")
_LIST_ITEM = re.compile(r"[-*+]\s")


def add_entry(text: str | None, entry: str) -> str:
    """`text` (a changelog; None or empty for none) with `entry` first under Unreleased."""
    text = NEW_CHANGELOG if text is None or not text.strip() else text
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    heading = _find(lines, _UNRELEASED)
    if heading is None:
        return "".join(_with_unreleased_section(lines, entry, newline))
    return "".join(_with_entry_under(lines, heading, entry, newline))


def _with_entry_under(lines: list[str], heading: int, entry: str, newline: str) -> list[str]:
    """Insert `entry` after the heading at `heading` and the blank lines that follow it."""
    body = heading + 1
    while body < len(lines) and not lines[body].strip():
        body += 1
    inserted = [newline, f"{entry}{newline}"]
    if body < len(lines) and not _LIST_ITEM.match(lines[body]):
        inserted.append(newline)
    return [*lines[: heading + 1], *inserted, *lines[body:]]


def _with_unreleased_section(lines: list[str], entry: str, newline: str) -> list[str]:
    """Add an Unreleased section holding `entry` before the first section, or at the end."""
    first_section = _find(lines, _SECTION)
    at = len(lines) if first_section is None else first_section
    before = lines[:at]
    while before and not before[-1].strip():
        before.pop()
    section = [f"{UNRELEASED}{newline}", newline, f"{entry}{newline}"]
    separator = [newline] if before else []
    after = [newline, *lines[at:]] if at < len(lines) else []
    return [*before, *separator, *section, *after]


def _find(lines: list[str], pattern: re.Pattern[str]) -> int | None:
    return next(
        (number for number, line in enumerate(lines) if pattern.fullmatch(line.rstrip("\r\n"))),
        None,
    )
