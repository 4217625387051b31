"""Releasing a project's model: its semantic version, its changelog, its packages.

- `versioning`: `mlprod bump`: the next version, written with the changelog line.
- `changelog`:  the project's `CHANGELOG.md`, "Unreleased" first.
- `packaging`:  `mlprod package`: sdist and wheel, model bundle, SHA256SUMS, image.
"""
