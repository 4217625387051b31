"""Experiment tracking (MLflow) and data versioning (DVC): both optional, neither required.

- `mlflow_tracker`: with a tracking URI (``MLFLOW_TRACKING_URI`` or ``train
  --tracking-uri``), each registered version is logged as one MLflow run and mirrored as
  a registered model version; the ``serving`` alias follows what a server would serve.
  The models directory stays the source of truth: the tracker is a view of it, filled
  after the version is registered there, and refilled by ``runs sync`` when it missed one.
- `data_version`: data under DVC (``dvc add data/<file>``) is checked before training and
  its DVC hash recorded in the manifest.
- `runs`: recent runs, from the tracker or from the local manifests.

Importing this package imports neither MLflow nor DVC: `mlflow_tracker` is imported only
when a tracking URI is set, DVC only when the data has a ``.dvc`` file.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping

TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"
SERVING_ALIAS = "serving"
"""The registered model's alias that names the version a server would serve."""
QUICK_FAILURE = {
    # MLflow's client retries a failed request 7 times with a doubling backoff (minutes);
    # a tracker that is away must not hold training up. Set in the environment to override.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # the command prints its own line
}
"""Set in the environment by the tracker unless already set there."""


class TrackingError(Exception):
    """The tracker cannot be used: its client is not installed, or it failed or refused."""


def tracking_uri(flag: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The tracking URI: ``flag`` (``--tracking-uri``), else ``MLFLOW_TRACKING_URI``, else None."""
    environ = os.environ if environ is None else environ
    return flag or environ.get(TRACKING_URI_VARIABLE) or None


def require_client(uri: str) -> None:
    """Refuse, before any work, a tracking URI without MLflow's client installed."""
    if importlib.util.find_spec("mlflow") is None:
        raise TrackingError(
            f"tracking to {uri} needs MLflow's client, which is not installed: "
            "pip install -e '.[tracking]' (or unset MLFLOW_TRACKING_URI)"
        )
