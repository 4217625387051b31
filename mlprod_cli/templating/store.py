"""The templates of other mlprod releases, for `mlprod update` to render a project's old one.

A template travels inside the mlprod wheel that bundled it, so the template of release
X is the `mlprod_cli/_template` folder of the mlprod X wheel. They are kept in a local
cache, one folder per version laid out as in the wheel (`cookiecutter.json`, `hooks/`,
the project folder):

    $MLPROD_CACHE_DIR/templates/<version>/     (default ~/.cache/mlprod, or $XDG_CACHE_HOME/mlprod)

An installed mlprod puts its own template there when it makes a project, so updating
that project later needs no network. A version missing from the cache is fetched with
`pip download mlprod==<version> --no-deps`, which honours the user's pip configuration
(a private index, a proxy), and unpacked into the cache. The fetch is pluggable, and
tests fill the cache from fixture folders instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from mlprod_cli import __version__
from mlprod_cli.errors import UserError
from mlprod_cli.templating.source import TemplateSource, bundled_template, is_packaged, stage

WHEEL_TEMPLATE = "mlprod_cli/_template/"

Download = Callable[[str, Path], Path]
"""Put the mlprod wheel of a version into a folder and return the wheel's path."""


class TemplateUnavailable(UserError):
    """The template of a version can be neither found in the cache nor fetched."""


def cache_dir() -> Path:
    """mlprod's cache folder: `$MLPROD_CACHE_DIR`, else `$XDG_CACHE_HOME/mlprod`, else ~/.cache."""
    explicit = os.environ.get("MLPROD_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mlprod"


class TemplateStore:
    """The template of any mlprod version: the bundled one, the cache's, or a fetched one."""

    def __init__(self, root: Path | None = None, download: Download | None = None) -> None:
        self.root = (root if root is not None else cache_dir()) / "templates"
        self.download = download if download is not None else pip_download

    def get(self, version: str) -> TemplateSource:
        """The template of mlprod `version`, fetching it into the cache when it is missing."""
        if version == __version__:
            return bundled_template()
        folder = self.root / version
        if not (folder / "cookiecutter.json").is_file():
            self._fetch(version, folder)
        return TemplateSource(root=folder, hooks=folder / "hooks")

    def remember_bundled(self) -> None:
        """Keep a copy of this release's template in the cache, for later updates.

        Only an installed release is copied: a checkout's template changes without its
        version changing. Best effort: a cache that cannot be written costs a download later.
        """
        folder = self.root / __version__
        if not is_packaged() or folder.exists():
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=f".{__version__}-", dir=self.root) as scratch:
                os.replace(stage(bundled_template(), Path(scratch)), folder)
        except OSError:
            return

    def _fetch(self, version: str, folder: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{version}-", dir=self.root) as scratch_name:
            scratch = Path(scratch_name)
            try:
                wheel = self.download(version, scratch / "download")
            except TemplateUnavailable as error:
                raise TemplateUnavailable(
                    f"cannot get the template of mlprod {version}: {error}; put that release's "
                    f"template (its wheel's {WHEEL_TEMPLATE.rstrip('/')} folder) in {folder}"
                ) from None
            unpacked = unpack_template(wheel, scratch / "template", version)
            try:
                os.replace(unpacked, folder)
            except OSError:
                if not (folder / "cookiecutter.json").is_file():  # not a concurrent fetch
                    raise


def pip_download(version: str, destination: Path) -> Path:
    """`pip download mlprod==<version> --no-deps` into `destination`; the wheel's path.

    pip runs from mlprod's own interpreter when it has pip, else from PATH (an mlprod
    installed with `uv tool` has none of its own); the wheel is pure Python either way.
    """
    pip = _pip_command()
    if pip is None:
        raise TemplateUnavailable("there is no pip to download it with")
    result = subprocess.run(
        [*pip, "download", f"mlprod=={version}", "--no-deps", "--only-binary=:all:",
         "--disable-pip-version-check", "--quiet", "--dest", str(destination)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wheels = sorted(destination.glob("mlprod-*.whl")) if destination.is_dir() else []
    if result.returncode != 0 or not wheels:
        raise TemplateUnavailable(f"`pip download mlprod=={version}` failed ({_reason(result)})")
    return wheels[0]


def unpack_template(wheel: Path, destination: Path, version: str) -> Path:
    """Extract the wheel's `mlprod_cli/_template/` into `destination` and return it."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = [name for name in archive.namelist() if name.startswith(WHEEL_TEMPLATE)]
            for name in members:
                relative = PurePosixPath(name[len(WHEEL_TEMPLATE) :])
                if name.endswith("/") or ".." in relative.parts or relative.is_absolute():
                    continue
                target = destination.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(name))
    except (zipfile.BadZipFile, OSError) as error:
        raise TemplateUnavailable(
            f"cannot unpack the template of mlprod {version} from {wheel.name}: {error}"
        ) from None
    if not (destination / "cookiecutter.json").is_file():
        raise TemplateUnavailable(
            f"the mlprod {version} wheel {wheel.name} holds no template ({WHEEL_TEMPLATE})"
        )
    return destination


def _pip_command() -> list[str] | None:
    from importlib.util import find_spec

    if find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    found = shutil.which("pip3") or shutil.which("pip")
    return [found] if found else None


def _reason(result: subprocess.CompletedProcess[str]) -> str:
    """pip's own explanation, on one line: its ERROR line, else its last words."""
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    for line in lines:
        if line.startswith("ERROR:"):
            return line.removeprefix("ERROR:").strip()
    return lines[-1] if lines else f"exit code {result.returncode}"
