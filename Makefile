# The README's two commands: `make demo` and `make test`. Each creates or refreshes .venv itself.
#
# TORCH_SPEC picks the torch build. The default is the CPU wheel that lies on this machine's disk;
# users with GPUs override it, e.g. `make test TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu126"`.
PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

BIN := $(VENV)/bin

.PHONY: demo test bench clean

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

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/engine.py

clean:
	rm -rf $(VENV) build *.egg-info
