"""The wheel carries the template and its hooks, and renders what a checkout renders."""

from __future__ import annotations

import filecmp
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mlprod_cli import __version__
from mlprod_cli.project.environment import find_uv

ROOT = Path(__file__).resolve().parent.parent
NAME = "project_name=Credit Risk Scorer"

pytestmark = pytest.mark.slow


def run(*command: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    uv = find_uv()
    assert uv, "uv is part of mlprod's dev extra"
    run(uv, "build", "--wheel", "--out-dir", dist, ROOT)
    (built,) = dist.glob("mlprod-*.whl")
    return built


def test_wheel_lays_the_hooks_beside_the_template(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mlprod_cli/_template/cookiecutter.json" in names
    assert "mlprod_cli/_template/hooks/pre_gen_project.py" in names
    assert "mlprod_cli/_template/hooks/post_gen_project.py" in names
    assert not any("__pycache__" in name for name in names)


def test_wheel_installed_mlprod_renders_the_same_project_as_the_checkout(
    wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The installed mlprod keeps its template for later updates: here, not in ~/.cache.
    monkeypatch.setenv("MLPROD_CACHE_DIR", str(tmp_path / "cache"))
    uv = find_uv()
    assert uv
    venv = tmp_path / "venv"
    run(uv, "venv", "--quiet", "--python", sys.executable, venv)
    # --compile-bytecode does what pip does by default: __pycache__ inside the installed template.
    run(
        uv,
        "pip",
        "install",
        "--quiet",
        "--compile-bytecode",
        "--python",
        venv / "bin/python",
        wheel,
    )
    installed = run(
        venv / "bin/python",
        "-c",
        "import mlprod_cli.templating.source as t; print(t.__file__)",
        cwd=tmp_path,
    )
    assert str(ROOT) not in installed

    # --no-git: the two first commits would differ in their timestamps, hence their objects.
    run(
        venv / "bin/mlprod",
        "new",
        "--no-input",
        "--no-git",
        "-o",
        tmp_path / "from-wheel",
        "--set",
        NAME,
    )
    checkout_mlprod = Path(sys.executable).parent / "mlprod"
    run(
        checkout_mlprod,
        "new",
        "--no-input",
        "--no-git",
        "-o",
        tmp_path / "from-checkout",
        "--set",
        NAME,
    )
    cached = tmp_path / "cache" / "templates" / __version__
    assert sorted(path.name for path in cached.iterdir()) == [
        "cookiecutter.json",
        "hooks",
        "{{cookiecutter.__project_slug}}",
    ]

    from_wheel = tmp_path / "from-wheel" / "credit-risk-scorer"
    from_checkout = tmp_path / "from-checkout" / "credit-risk-scorer"
    assert tree(from_wheel) == tree(from_checkout)
    assert not any(part == "__pycache__" for path in tree(from_wheel) for part in path.split("/"))
    files = [path for path in tree(from_wheel) if (from_wheel / path).is_file()]
    _, mismatched, errors = filecmp.cmpfiles(from_wheel, from_checkout, files, shallow=False)
    assert (mismatched, errors) == ([], [])
