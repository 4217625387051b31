# The README's two commands: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mlprod-installed

.PHONY: demo test test-fast lint install clean

# mlprod, editable, with its development tools; uv (installed first) makes the rest fast.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Scaffold a project with defaults, install it, train it, serve it under uWSGI, ask for a prediction.
demo: $(STAMP)
	$(BIN)/python scripts/demo.py

## The whole test suite: unit, CLI, render, content and (slow) gates tiers, then lint.
test: $(STAMP)
	$(BIN)/pytest
	$(MAKE) lint

## Everything but the slow gates tier.
test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow"

## ruff (check and format) over everything, mypy (strict) over mlprod_cli/, benchmarks/ and scripts/.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pre-commit validate-config .pre-commit-config.yaml

clean:
	rm -rf $(VENV) .demo .tox .pytest_cache .ruff_cache dist build
