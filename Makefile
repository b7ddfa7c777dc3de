# Two commands: `make run` and `make test`. Each creates .venv if missing and installs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The default neighbourhood's summer day, paced: each 15-minute interval in 1.5 s of wall time
# (real-time factor 600) with a 100 ms control step, so the whole day takes under 3 minutes.
run: $(STAMP)
	$(BIN)/testbed run --rtf 600 --control-step 0.1

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
