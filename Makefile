# The two set-up commands of the README: `make demo` and `make test`. Both build the venv first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv vendor lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned to the local CPU wheel, so nothing below drags in a multi-GB CUDA build.
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev,data]"
	# Peers depend on torchvision (which would drag torch up): install them without dependencies.
	$(BIN)/python -m pip install -q --no-deps norse spikingjelly snntorch nirtorch neurobench sinabs rockpool
	$(BIN)/python -m pip install -q loguru pbr
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/snndeploy demo --out reports/demo

# The vendor simulators' venvs (lava, xylosim, sinabs; see snndeploy/hardware/vendor): built once, then reused.
vendor: $(STAMP)
	$(BIN)/snndeploy vendor setup

# SNNDEPLOY_REQUIRE_VENDOR=1: a test that needs a vendor venv fails instead of skipping when it is missing.
test: $(STAMP) vendor lint
	SNNDEPLOY_REQUIRE_VENDOR=1 TRITON_INTERPRET=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile tests

# ruff (style, line length) and import-linter (the package layering of docs/architecture.md); part of `make test`.
lint: $(STAMP)
	$(BIN)/ruff check snndeploy exporters tests benchmarks examples
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python benchmarks/cpu_neurons.py

clean:
	rm -rf $(VENV) reports .pytest_cache
