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
	@echo "compiling the kernels into Numba's cache: once per checkout, about a minute"
	$(BIN)/python -c "import kernels; kernels.warm(parallel=True)"
	touch $(STAMP)

# The default neighbourhood's summer day, paced: each 15-minute interval in 1.5 s of wall time
# (real-time factor 600) with a 100 ms control step, so the whole day takes under 3 minutes.
# Its ledger is on a local network of 4 validators and 3 NATS servers that the run creates in
# its folder, starts and stops.
run: $(STAMP)
	out=runs/default-$$(date +%Y%m%d-%H%M%S); \
	$(BIN)/testbed run --rtf 600 --control-step 0.1 --out $$out --network $$out/network

# Two test processes, one per core: much of the suite waits on sockets, subprocesses and paced
# runs, so the second process fills the first's idle time (about 5.5 min instead of 8.5 here).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check .
