"""Sweeps: a grid of scenarios (feeders x PV share x battery share x seeds x start days x
days) run on Dask distributed, a cell per scenario.

`spec` reads and checks a sweep spec (every problem at once), `runner` plans and runs its cells
on a cluster (`cluster`: a local one, or a user's scheduler), each cell a `testbed simulate`
run on a worker (`cell`), and writes the table (`table`) and the plots (`figures`); `console`
is the command a user runs.
"""

from testbed.sweep.runner import Outcome, Plan, plan, run
from testbed.sweep.spec import AXES, Cell, SweepSpec, example_text, load_sweep, parse_sweep

__all__ = ["AXES", "Cell", "Outcome", "Plan", "SweepSpec", "example_text", "load_sweep",
           "parse_sweep", "plan", "run"]
