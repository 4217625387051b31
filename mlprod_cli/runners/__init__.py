"""Scripts that mlprod runs with a generated project's own interpreter.

Each one is a standalone file: standard library, the project and what the project's
environment holds. None imports `mlprod_cli`, which may not be installed there.
"""
