# Everything a fresh machine needs is installed by these targets; README.md shows the two to use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint system-deps bench clean

## run: the console on the shipped artifacts (no Slack workspace, no cluster)
run: $(VENV)/.installed
	$(BIN)/bizra console

## test: lint, import contract, and the whole test suite (installs Prometheus when missing)
test: $(VENV)/.installed system-deps
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports

system-deps:
	bash scripts/install-system-deps.sh

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
