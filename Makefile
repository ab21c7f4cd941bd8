# The two commands of the README: `make demo` and `make test`.
# Each creates .venv with python3 and installs the core, the first-party plugins
# and the dev tools in editable mode before doing its job.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := -e '.[dev]' \
	-e plugins/zeroevents-msgpack \
	-e plugins/zeroevents-cbor \
	-e contrib/zeroevents-orjson \
	-e tests/plugins/zeroevents-testplugin

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml Makefile $(wildcard plugins/*/pyproject.toml contrib/*/pyproject.toml tests/plugins/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PACKAGES)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m zeroevents_core.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy zeroevents_core

test: lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
