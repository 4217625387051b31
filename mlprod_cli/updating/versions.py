"""Where a project's template stands: the recorded version against the installed mlprod's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlprod_cli.errors import UserError
from mlprod_cli.templating.provenance import FILENAME, Provenance

if TYPE_CHECKING:
    from packaging.version import Version

EXIT_BEHIND = 3
"""`mlprod check`: the project's template is older than the installed mlprod's."""


@dataclass(frozen=True)
class Status:
    """Where a project's template stands against the installed mlprod's."""

    recorded: str
    installed: str
    pending: str | None

    @property
    def behind(self) -> bool:
        return version(self.recorded, "") < version(self.installed, "")


def installed_version() -> str:
    """The version of the running mlprod, which is the version of its bundled template."""
    import mlprod_cli

    return mlprod_cli.__version__


def status(provenance: Provenance) -> Status:
    """The project's template against the installed one; a newer project is a `UserError`."""
    installed = installed_version()
    recorded = version(provenance.template_version, f"{FILENAME} template_version")
    if recorded > version(installed, "mlprod's version"):
        raise UserError(
            f"the project's template ({provenance.template_version}) is newer than this "
            f"mlprod's ({installed}); upgrade mlprod: pip install -U mlprod"
        )
    pending = provenance.pending_update
    return Status(
        recorded=provenance.template_version,
        installed=installed,
        pending=None if pending is None else pending.template_version,
    )


def target_version(provenance: Provenance, requested: str | None) -> str:
    """The version to update to: `--to`, checked, or the installed one."""
    installed = installed_version()
    status(provenance)
    if requested is None:
        return installed
    target = version(requested, "--to")
    if target > version(installed, "mlprod's version"):
        raise UserError(
            f"--to {requested} is newer than this mlprod ({installed}); "
            f"install mlprod {requested} to update to its template"
        )
    if target < version(provenance.template_version, ""):
        raise UserError(
            f"--to {requested} is older than the project's template "
            f"({provenance.template_version}); mlprod update only moves forward"
        )
    return requested


def is_current(provenance: Provenance, target: str) -> bool:
    return version(provenance.template_version, "") == version(target, "")


def version(text: str, what: str) -> Version:
    """`text` as a version; a `UserError` naming `what` when it is not one."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        raise UserError(f"{what} {text!r} is not a version, e.g. 0.2.0") from None
