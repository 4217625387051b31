"""Batch scoring: files of any size, locally in chunks or on Spark, optionally into Redis.

Nothing is imported here: the command line names the engines without loading the scorer,
which needs the api extra (it validates rows with the API's own request schema).
"""

from typing import Literal

Engine = Literal["local", "spark"]
ENGINES: tuple[Engine, ...] = ("local", "spark")
