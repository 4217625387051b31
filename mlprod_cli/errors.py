"""One way to fail: a user's mistake is one line on stderr and a non-zero exit.

Raise `UserError` (or a subclass with its own `exit_code`) anywhere; `mlprod_cli.main`
catches it once, where the commands run, and prints `mlprod: <message>`.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix: reported as one line, never as a traceback."""

    exit_code = 1
