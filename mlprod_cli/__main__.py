"""`python -m mlprod_cli`: the `mlprod` command, for processes that mlprod starts itself.

`mlprod loadtest --processes N` starts its Locust workers this way, with its own
interpreter, whether or not the `mlprod` script is on PATH.
"""

from mlprod_cli.main import run

if __name__ == "__main__":
    run()
