# The README's two commands: `make demo` and `make test`. Each creates or refreshes .venv itself;
# so does `make docs`, which builds the documentation site.
#
# TORCH_SPEC picks the torch build. The default is the CPU wheel that lies on this machine's disk;
# users with GPUs override it, e.g. `make test TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu126"`.
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

BIN := $(VENV)/bin

.PHONY: demo test docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# One stamp per extra set; a changed pyproject.toml or TORCH_SPEC refreshes the install.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e ".[$*]"
	touch $@

demo: $(VENV)/.installed-plot
	$(BIN)/qseq demo

# Lint (ruff: rules and formatting), types (mypy on circuits/ and qseq/backends/), then the tests.
test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

# The documentation site (mkdocs-material; API pages from the docstrings by mkdocstrings) into site/,
# any warning an error. Reuses a `make test` environment (the dev extra includes docs), else installs
# the docs extra. Preview with `$(BIN)/mkdocs serve`.
DOCS_STAMP := $(if $(wildcard $(VENV)/.installed-dev),$(VENV)/.installed-dev,$(VENV)/.installed-docs)
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/engine.py

clean:
	rm -rf $(VENV) build site *.egg-info
