# The two set-up commands of the README. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# 2 cores: torch with more threads than cores runs many times slower.
export OMP_NUM_THREADS ?= 2
export MKL_NUM_THREADS ?= 2
export TOKENIZERS_PARALLELISM := false
export HF_HUB_OFFLINE := 1

.PHONY: demo test install mutation clean-venv

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/braintune demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest

# Mutation testing of the numeric core: hours, one mutant at a time; not part of `test`/CI.
# Modules and their tests: pyproject.toml [tool.braintune.mutation]; scores: docs/mutation.md.
mutation: $(BIN)/.installed
	$(BIN)/python tools/mutation.py

clean-venv:
	rm -rf $(VENV)
