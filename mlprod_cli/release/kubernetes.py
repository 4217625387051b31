"""`mlprod package --kubernetes OVERLAY`: pin a Kustomize overlay to the image just built.

The generated project keeps its manifests in ``deploy/kubernetes/``: a base and overlays.
An overlay's ``kustomization.yaml`` names the image to run (an ``images:`` entry for the
base's image name, ``<slug>``) and the model version to serve (``MODEL_VERSION`` in its
merge of the ``<slug>-serving`` ConfigMap generator). After a successful build, both are
set to what was built, so that what is deployed is exactly what was built and hashed.

The file is edited with ruamel.yaml's round-trip mode, which keeps its comments, order and
quoting; only the values changed are rewritten.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlprod_cli.errors import UserError

OVERLAYS = Path("deploy") / "kubernetes" / "overlays"
KUSTOMIZATION = "kustomization.yaml"
MODEL_VERSION = "MODEL_VERSION"


class OverlayError(UserError):
    """The overlay cannot be pinned; the message says which and what to do."""


@dataclass(frozen=True)
class ImagePin:
    """What an overlay is pinned to: the image (name, tag, digest) and the model version."""

    image_name: str
    """The name the base's Deployment uses, which the ``images:`` entry matches (the slug)."""
    new_name: str
    tag: str
    digest: str | None
    model_version: str

    @property
    def reference(self) -> str:
        shown = f"{self.new_name}:{self.tag}"
        return f"{shown}@{self.digest}" if self.digest else shown


@dataclass(frozen=True)
class Overlay:
    """An overlay's kustomization file, read and checked before anything is built."""

    name: str
    path: Path

    def pinned(self, pin: ImagePin) -> str:
        """The file's text with its image and model version set to ``pin``."""
        return pin_text(self.path.read_text(encoding="utf-8"), pin, self.path)


def find_overlay(root: Path, name: str) -> Overlay:
    """The overlay ``name`` of the project at ``root``; refused, naming those there are."""
    folder = root / OVERLAYS
    path = folder / name / KUSTOMIZATION
    if "/" in name or "\\" in name or name in ("", ".", "..") or not path.is_file():
        there = sorted(p.parent.name for p in folder.glob(f"*/{KUSTOMIZATION}"))
        known = f"overlays here: {', '.join(there)}" if there else f"no overlay in {folder}"
        raise OverlayError(f"--kubernetes {name}: no {OVERLAYS / name / KUSTOMIZATION} ({known})")
    overlay = Overlay(name, path)
    _load(path.read_text(encoding="utf-8"), path)  # unreadable YAML fails before the build
    return overlay


def pin_text(text: str, pin: ImagePin, path: Path) -> str:
    """``text`` (a kustomization) with ``images:`` and ``MODEL_VERSION`` set to ``pin``."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    document = _load(text, path)
    images = document.get("images")
    if images is None:
        images = document["images"] = CommentedSeq()
    if not isinstance(images, list):
        raise OverlayError(f"{path}: `images` is not a list; fix it, then package")
    entry = next(
        (item for item in images if isinstance(item, dict) and item.get("name") == pin.image_name),
        None,
    )
    if entry is None:
        entry = CommentedMap(name=pin.image_name)
        images.append(entry)
    entry["newName"] = pin.new_name
    entry["newTag"] = DoubleQuotedScalarString(pin.tag)
    if pin.digest:
        entry["digest"] = pin.digest
    else:
        entry.pop("digest", None)  # a digest left from an earlier build would win over the tag
    _set_model_version(document, pin, path)
    out = io.StringIO()
    _yaml().dump(document, out)
    return out.getvalue()


def _set_model_version(document: Any, pin: ImagePin, path: Path) -> None:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    serving = f"{pin.image_name}-serving"
    generators = document.get("configMapGenerator")
    if generators is None:
        generators = document["configMapGenerator"] = CommentedSeq()
    if not isinstance(generators, list):
        raise OverlayError(f"{path}: `configMapGenerator` is not a list; fix it, then package")
    generator = next(
        (item for item in generators if isinstance(item, dict) and item.get("name") == serving),
        None,
    )
    if generator is None:
        generator = CommentedMap(name=serving, behavior="merge", literals=CommentedSeq())
        generators.append(generator)
    literals = generator.setdefault("literals", CommentedSeq())
    setting = f"{MODEL_VERSION}={pin.model_version}"
    for index, literal in enumerate(literals):
        if str(literal).partition("=")[0].strip() == MODEL_VERSION:
            literals[index] = setting
            return
    literals.insert(0, setting)


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip: comments, order and quoting are kept
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)  # the template's style: "  - item"
    yaml.width = 4096  # never re-wrap a long line
    return yaml


def _load(text: str, path: Path) -> Any:
    from ruamel.yaml.error import YAMLError

    try:
        document = _yaml().load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise OverlayError(f"{path} is not valid YAML{where}; fix it, then package again") from None
    if not isinstance(document, dict):
        raise OverlayError(f"{path} is not a kustomization (a YAML mapping); fix it")
    return document
