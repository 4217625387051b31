"""mlprod: take a model from a notebook to a production service."""

__version__ = "0.1.0"
