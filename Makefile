# privtune — the two commands a fresh machine needs are `make demo` and `make test`.
# Each creates or refreshes .venv from nothing, then runs.

PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
# The CPU build of torch lies on this machine's disk; an unpinned torch pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
DEMO_OUT ?= demo-out
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
FLWR_VENV  ?= .venv-flwr
FLWR_SPEC  ?= flwr==1.23.0
FLWR_STAMP := $(FLWR_VENV)/.installed

.PHONY: help venv venv-flwr demo test test-fast lint bench clean

help: ## Show this help
	@echo "privtune — private, local fine-tuning on HR data"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: DEMO_OUT=$(DEMO_OUT)  PYTHON=$(PYTHON)  TORCH_SPEC=$(TORCH_SPEC)"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo ">> installing $(TORCH_SPEC) (CPU build) into $(VENV)"
	@$(PIP) install "$(TORCH_SPEC)" 2>&1 | grep -v "is ignored: it is neither" || true
	@$(PY) -W ignore -c "import torch" || { echo "torch failed to install"; exit 1; }
	@echo ">> installing privtune and its test and synthetic-data extras"
	@$(PIP) install -e ".[test,synthetic]" 2>&1 | grep -v "is ignored: it is neither" || true
	@$(PY) -c "import privtune, transformers, peft" || { echo "privtune failed to install"; exit 1; }
	@touch $(STAMP)

venv: $(STAMP) ## Create or refresh .venv (torch first, pinned, then privtune)

# Flower pins cryptography<45, rich<14, typer<0.13, protobuf<5 and click<8.2: it gets its own
# environment (docs/federated.md), never .venv. privtune's library resolves inside those pins;
# huggingface-hub's own CLI (unused: models load from local directories) wants a newer click.
$(FLWR_STAMP): pyproject.toml
	@test -x $(FLWR_VENV)/bin/python || $(PYTHON) -m venv $(FLWR_VENV)
	@echo ">> installing $(TORCH_SPEC) (CPU build), $(FLWR_SPEC) and privtune into $(FLWR_VENV)"
	@$(FLWR_VENV)/bin/python -m pip --disable-pip-version-check -q install "$(TORCH_SPEC)" 2>&1 | grep -v "is ignored: it is neither" || true
	@$(FLWR_VENV)/bin/python -m pip --disable-pip-version-check -q install "$(FLWR_SPEC)" 2>&1 | grep -v "is ignored: it is neither" || true
	@$(FLWR_VENV)/bin/python -m pip --disable-pip-version-check -q install -e . 2>&1 | grep -v "is ignored: it is neither\|dependency conflicts\|requires click\|resolver does not" || true
	@$(FLWR_VENV)/bin/python -m pip --disable-pip-version-check -q install "click<8.2" 2>&1 | grep -v "is ignored: it is neither\|dependency conflicts\|requires click\|resolver does not\|has requirement click" || true
	@$(FLWR_VENV)/bin/python -c "import flwr, privtune.federated.apps" || { echo "Flower's environment failed to install"; exit 1; }
	@touch $(FLWR_STAMP)

venv-flwr: $(FLWR_STAMP) ## Create or refresh .venv-flwr (Flower + privtune, for `privtune federated`)

demo: $(STAMP) ## Run the whole pipeline on a synthetic HR company (outputs in $(DEMO_OUT)/)
	@$(VENV)/bin/privtune demo --out $(DEMO_OUT)

test: $(STAMP) $(FLWR_STAMP) ## Run the whole test suite (unit + slow end-to-end tests; ~20 min on 2 idle cores)
	@$(PY) -m pytest -q

test-fast: $(STAMP) ## Run the unit tests only (no training, no pipeline runs; two workers; ~1.5 min on 2 idle cores)
	@$(PY) -m pytest -q -m "not slow" -n 2

lint: $(STAMP) ## ruff, mypy on src/ and the import-layer contracts (import-linter)
	@$(VENV)/bin/ruff check src tests bench
	@$(VENV)/bin/mypy
	@$(VENV)/bin/lint-imports

bench: $(STAMP) ## Run the benchmarks in bench/ (JSON + markdown in bench/results/)
	@$(PIP) install -e ".[test,synthetic,bench]" 2>&1 | grep -v "is ignored: it is neither" || true
	@$(PY) bench/run.py

clean: ## Remove .venv, demo output and caches
	rm -rf $(VENV) $(FLWR_VENV) $(DEMO_OUT) .pytest_cache build src/*.egg-info
