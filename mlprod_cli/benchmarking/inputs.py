"""The rows `mlprod benchmark` feeds the model: the project's data, as lists in feature order.

Reading and typing them is the project's business (`mlprod_cli.project.data`); this only
shapes them for the runner, which passes each batch to `predict` as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlprod_cli.project import Project
from mlprod_cli.project.data import sample
from mlprod_cli.project.models import TrainedModel
from mlprod_cli.project.schema import Value

MAX_ROWS = 10_000
"""Rows kept from the data file; batches larger than that repeat them."""


@dataclass(frozen=True)
class Inputs:
    """Rows in the schema's feature order, and where they came from."""

    rows: list[list[Value]]
    source: str


def benchmark_inputs(project: Project, model: TrainedModel, limit: int = MAX_ROWS) -> Inputs:
    """Rows for the model from the project's data, or else its schema's example instance."""
    found = sample(project, model.schema, model.manifest, limit)
    return Inputs(
        rows=[list(row.values()) for row in found.rows], source=found.source(project.root)
    )
