"""Batch scoring: files of any size, locally in chunks or on Spark, optionally into Redis."""
