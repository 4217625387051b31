"""The templates of other releases: the cache, the download, the unpacking, without a network."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from mlprod_cli import __version__
from mlprod_cli.templating import store as template_store
from mlprod_cli.templating.source import bundled_template
from mlprod_cli.templating.store import (
    TemplateStore,
    TemplateUnavailable,
    cache_dir,
    pip_download,
    unpack_template,
)


def make_wheel(folder: Path, version: str, template: Path | None) -> Path:
    """An mlprod wheel as pip accepts it, carrying `template` as mlprod_cli/_template."""
    wheel = folder / f"mlprod-{version}-py3-none-any.whl"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        if template is not None:
            for path in sorted(template.rglob("*")):
                if path.is_file():
                    name = path.relative_to(template).as_posix()
                    archive.write(path, f"mlprod_cli/_template/{name}")
        archive.writestr("mlprod_cli/__init__.py", f'__version__ = "{version}"\n')
        info = f"mlprod-{version}.dist-info"
        archive.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: mlprod\nVersion: {version}\n"
        )
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{info}/RECORD", "")
    return wheel


def test_this_mlprods_own_version_is_the_bundled_template(tmp_path: Path) -> None:
    assert TemplateStore(tmp_path).get(__version__) == bundled_template()


def test_a_cached_version_is_used_as_it_is(template_cache: Path) -> None:
    def no_download(version: str, destination: Path) -> Path:
        raise AssertionError("nothing to download")

    source = TemplateStore(template_cache, no_download).get("0.0.1")
    assert source.root == template_cache / "templates" / "0.0.1"
    assert source.hooks == source.root / "hooks"
    assert source.context()["project_name"] == "Iris Classifier"


def test_a_missing_version_is_downloaded_once_and_unpacked_into_the_cache(
    template_cache: Path, tmp_path: Path
) -> None:
    downloads: list[str] = []

    def download(version: str, destination: Path) -> Path:
        downloads.append(version)
        return make_wheel(destination, version, template_cache / "templates" / "0.0.2")

    store = TemplateStore(tmp_path, download)
    source = store.get("0.0.7")
    assert source.root == tmp_path / "templates" / "0.0.7"
    assert (source.root / "hooks" / "pre_gen_project.py").is_file()
    assert store.get("0.0.7") == source
    assert downloads == ["0.0.7"]
    assert sorted(path.name for path in (tmp_path / "templates").iterdir()) == ["0.0.7"]


def test_a_failed_download_says_how_to_supply_the_template(tmp_path: Path) -> None:
    def download(version: str, destination: Path) -> Path:
        raise TemplateUnavailable("`pip download mlprod==0.0.7` failed (no network)")

    with pytest.raises(TemplateUnavailable) as caught:
        TemplateStore(tmp_path, download).get("0.0.7")
    assert str(caught.value) == (
        "cannot get the template of mlprod 0.0.7: `pip download mlprod==0.0.7` failed "
        "(no network); put that release's template (its wheel's mlprod_cli/_template folder) "
        f"in {tmp_path / 'templates' / '0.0.7'}"
    )
    assert list((tmp_path / "templates").iterdir()) == []


def test_a_wheel_without_a_template_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "wheels", "0.0.7", None)
    with pytest.raises(TemplateUnavailable) as caught:
        unpack_template(wheel, tmp_path / "out", "0.0.7")
    assert str(caught.value) == (
        f"the mlprod 0.0.7 wheel {wheel.name} holds no template (mlprod_cli/_template/)"
    )


def test_unpacking_ignores_paths_that_leave_the_template(
    template_cache: Path, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path / "wheels", "0.0.7", template_cache / "templates" / "0.0.1")
    with zipfile.ZipFile(wheel, "a") as archive:
        archive.writestr("mlprod_cli/_template/../../escaped.txt", "no")
    unpacked = unpack_template(wheel, tmp_path / "out", "0.0.7")
    assert (unpacked / "cookiecutter.json").is_file()
    assert not list(tmp_path.rglob("escaped.txt"))


def test_pip_download_fetches_the_wheel_with_the_users_pip_settings(
    template_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    links = tmp_path / "links"
    make_wheel(links, "0.0.7", template_cache / "templates" / "0.0.1")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))

    wheel = pip_download("0.0.7", tmp_path / "download")

    assert wheel == tmp_path / "download" / "mlprod-0.0.7-py3-none-any.whl"
    source = TemplateStore(tmp_path / "cache").get("0.0.7")
    assert (source.root / "cookiecutter.json").is_file()


def test_pip_download_failure_is_pips_reason_on_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "links").mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "links"))
    with pytest.raises(TemplateUnavailable) as caught:
        pip_download("0.0.7", tmp_path / "download")
    message = str(caught.value)
    assert message.startswith("`pip download mlprod==0.0.7` failed (")
    assert "mlprod==0.0.7" in message.split("(", 1)[1]
    assert "\n" not in message


def test_the_running_release_keeps_its_template_in_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TemplateStore(tmp_path)
    store.remember_bundled()
    assert not (tmp_path / "templates").exists(), "a checkout's template is not a release's"

    monkeypatch.setattr(template_store, "is_packaged", lambda: True)
    store.remember_bundled()
    cached = tmp_path / "templates" / __version__
    assert (cached / "cookiecutter.json").read_bytes() == (
        bundled_template().root / "cookiecutter.json"
    ).read_bytes()
    assert (cached / "hooks" / "post_gen_project.py").is_file()
    assert not list(cached.rglob("__pycache__"))


def test_the_cache_folder_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLPROD_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "mlprod"
    monkeypatch.setenv("MLPROD_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("MLPROD_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "mlprod"
