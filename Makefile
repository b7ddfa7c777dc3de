# Two commands: `make run` and `make test`. Each creates .venv if missing and installs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint

# pip installs uv into the venv, and uv the project: it downloads and installs in parallel (a
# fresh clone's setup, alternating, empty caches, AMD EPYC Zen 4: 87 and 102 s with pip, 56 and
# 77 s with uv). pip's --quiet still prints its warnings (an index location it cannot read);
# twice, only errors, and a failed install still says why and stops make.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check

# The packages' bytecode is compiled beside the kernels' warm-up (uv compiles none): the warm-up
# leaves a core idle for a third of its time (verification compiles longer than signing). A
# file compileall cannot compile is skipped, as pip skips it; a failed warm-up fails the setup.
$(STAMP): pyproject.toml
	@echo "setting up $(VENV): installing the project, then compiling the kernels into Numba's cache (once per checkout)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PIP_INSTALL) uv
	@$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	@$(BIN)/python -m compileall -qq -j 1 $(VENV)/lib & compiling=$$!; \
	$(BIN)/python -c "import kernels; kernels.warm(parallel=True)"; warmed=$$?; \
	wait $$compiling; exit $$warmed
	@touch $(STAMP)

# The default neighbourhood's summer day, paced: each 15-minute interval in 1.5 s of wall time
# (real-time factor 600) with a 100 ms control step, so the whole day takes under 3 minutes.
# Its ledger is on a local network of 4 validators and 3 NATS servers that the run creates in
# its folder, starts and stops.
run: $(STAMP)
	@out=runs/default-$$(date +%Y%m%d-%H%M%S); \
	$(BIN)/testbed run --rtf 600 --control-step 0.1 --out $$out --network $$out/network

# Three test processes on two cores: much of the suite waits on sockets, subprocesses, paced
# runs and commit deadlines, and a third process fills the cores those waits leave idle (pytest
# alone, side by side on one set-up clone with its caches reset before each run, AMD EPYC Zen 4:
# 478 and 432 s in two processes against 406 and 413 s in three). Tests are handed out a file at
# a time (--dist loadfile), so a module's fixtures (a simulated day, a network, a sweep) are made
# once, and in tests/conftest.py's order, the files of slow tests first (xdist's default order
# is the files of most tests first: the single long test of an external agent came last, with
# the other processes idle). xdist's default first handed one process a block of 100 tests,
# every slow one, and test by test the processes made each module fixture twice (20.5 CPU min
# against 15.2 a file at a time, on one clone).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
