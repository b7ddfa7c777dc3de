"""Sweeps on a real Dask cluster (two worker processes on loopback): cells run, a failed cell
is reported in one line while the others finish, the table and plots are written, and a re-run
skips the cells already done."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from testbed.errors import InputError
from testbed.sweep import load_sweep, plan, run
from testbed.sweep.cluster import check_shared_folder, connect
from testbed.sweep.console import main

pytestmark = pytest.mark.slow  # 20 s or more: the quick lane skips it

SPEC = """
name = "small"
scenario = "base.toml"
[axes]
feeder = ["1-LV-rural1--0-sw", "broken.json"]   # a JSON file that holds no net: it fails
pv_share = [0.3, 0.8]
"""
TIMEOUT_S = 300


def sweep(folder, *args, columns=None):
    """`testbed sweep ARGS` run from ``folder``, as a user would (in a terminal ``columns``
    wide, if given)."""
    env = None if columns is None else {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "testbed", "sweep", *map(str, args)],
                          cwd=folder, capture_output=True, text=True, timeout=TIMEOUT_S,
                          check=False, env=env)


@pytest.fixture(scope="module")
def swept(scheduler, base_scenario, tmp_path_factory):
    """The small sweep, run once through the command line on the shared cluster."""
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "base.toml").write_text(base_scenario)
    (folder / "broken.json").write_text('{"not": "a net"}')
    (folder / "sweep.toml").write_text(SPEC)
    out = folder / "out"
    return folder, out, sweep(folder, "sweep.toml", "--scheduler", scheduler, "--out", out)


def test_cells_run_and_a_failed_cell_is_reported_in_one_line(swept):
    _, out, r = swept
    assert r.returncode == 1, r.stderr[-2000:]  # a cell failed
    failed = [line for line in r.stdout.splitlines() if " failed: " in line]
    assert len(failed) == 2 and all("broken.json is not a pandapower JSON net" in line
                                     for line in failed), r.stdout
    table = pd.read_parquet(out / "sweep.parquet")
    assert len(table) == 4 and list(table.columns[:13]) == [
        "cell", "feeder", "phases", "pv_share", "battery_share", "seed", "start", "days",
        "mechanism", "strategy", "grid_fee", "wall_s", "error"]
    ok = table[table["error"].isna()]
    assert sorted(ok["pv_share"]) == [0.3, 0.8] and set(ok["feeder"]) == {"1-LV-rural1--0-sw"}
    assert (ok["intervals"] == 2).all() and (ok["ledger_valid"]).all()
    assert (ok["money_conservation_error"] == 0).all() and (ok["wall_s"] > 0).all()
    assert ok["start"].tolist() == ["2016-07-21T11:00:00Z"] * 2  # from the base's date-time
    # every summary field is a column, whatever the summary holds (nested: key.subkey)
    summary = json.loads((out / "cells" / ok["cell"].iloc[0] / "summary.json").read_text())
    for key, value in summary.items():
        if key not in ("start", "vm_limits") and value != {}:
            assert key in table.columns or any(c.startswith(f"{key}.") for c in table.columns), key
    for name in ("hosting_capacity.png", "market.png"):
        assert (out / name).stat().st_size > 10_000, name
    figures = json.loads((out / "sweep.json").read_text())
    assert figures["cells"] == figures["ran"] == 4 and figures["failed"] == 2
    assert figures["cells_wall_s"] == pytest.approx(table["wall_s"].sum(), abs=0.01)
    assert "Speed-up (sum / wall)" in r.stdout
    error = next((out / "cells").glob("broken*/error.txt")).read_text()
    assert "Traceback" in error and "GridModelError" in error


def test_a_rerun_skips_the_cells_done(swept, scheduler):
    folder, out, _ = swept
    done = out / "cells" / "1-LV-rural1--0-sw_pv0.3_bat0.15_seed7_20160721T1100_0.0208333d"
    (done / "summary.json").unlink()  # as if killed before the end: run again
    before = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*0.8*/summary.json")}
    r = sweep(folder, "sweep.toml", "--scheduler", scheduler, "--out", out)
    assert r.returncode == 1 and "1 of 4 cells done earlier: skipped" in r.stdout, r.stdout
    figures = json.loads((out / "sweep.json").read_text())
    assert (figures["ran"], figures["skipped"], figures["failed"]) == (3, 1, 2)
    assert (done / "summary.json").is_file()
    assert before == {p: p.stat().st_mtime_ns for p in before}  # the done cell untouched
    assert len(pd.read_parquet(out / "sweep.parquet")) == 4


def test_a_changed_base_scenario_runs_the_cells_again(swept):
    folder, out, _ = swept
    spec = load_sweep(folder / "sweep.toml")
    assert len(plan(spec, out).done) == 2
    changed = replace(spec, cells=tuple(
        replace(c, scenario=replace(c.scenario, grid=replace(c.scenario.grid, vm_max_pu=1.05)))
        for c in spec.cells))
    assert plan(changed, out).done == ()


def test_an_interrupted_sweep_writes_what_finished(scheduler, base_scenario, tmp_path):
    (tmp_path / "base.toml").write_text(base_scenario)
    (tmp_path / "s.toml").write_text('scenario = "base.toml"\n[axes]\nseed = [1, 2, 3]\n')
    todo = plan(load_sweep(tmp_path / "s.toml"), tmp_path / "out")

    def interrupt(result):  # Ctrl-C as the first cell comes in
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(todo, scheduler=scheduler, on_result=interrupt)
    figures = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert (figures["cells"], figures["ran"]) == (3, 1)
    first = pd.read_parquet(tmp_path / "out" / "sweep.parquet")
    assert len(first) == 1 and first["error"].isna().all()
    assert first["cell"][0] in {r.cell for r in plan(todo.spec, todo.out).done}


def test_workers_use_one_thread_each(scheduler):
    from distributed import Client

    from testbed.sweep.cell import limit_threads

    def threads():
        import numba

        limit_threads()
        return numba.get_num_threads(), numba.config.NUMBA_NUM_THREADS

    with Client(scheduler, timeout=30) as client:
        results = [client.submit(threads, pure=False).result(timeout=60) for _ in range(2)]
    assert results == [(1, 1), (1, 1)]


def test_a_scheduler_that_does_not_answer_is_one_line():
    with (pytest.raises(InputError, match="no Dask scheduler answers at tcp://127.0.0.1:9"),
          connect("tcp://127.0.0.1:9", timeout_s=1)):
        pass


def test_a_folder_the_workers_see(scheduler, tmp_path):
    with connect(scheduler, timeout_s=30) as client:
        check_shared_folder(client, tmp_path)  # local workers share this filesystem
        assert not list(tmp_path.iterdir())


def test_the_example_and_usage_errors(capsys):
    assert main(None, scheduler=None, out=None, workers=None, example=True) == 0
    assert "[axes]" in capsys.readouterr().out
    with pytest.raises(InputError, match="give a sweep spec"):
        main(None, scheduler=None, out=None, workers=None, example=False)
    with pytest.raises(InputError, match="--workers sizes the local cluster"):
        main(Path("x.toml"), scheduler="tcp://127.0.0.1:9", out=None, workers=2, example=False)


AGENT = '''
from testbed.agents.trader import Plan
from testbed.ledger.transactions import Order, Side


class Eager:
    """Sells any surplus at feed-in, buys any need at retail."""

    def decide(self, knows, rng):
        p, f = knows.params, knows.forecast
        wh = int(abs(f.load_kw - f.pv_kw) * p.interval_seconds / 3.6)
        if wh < 10:
            return Plan(None)
        if f.pv_kw > f.load_kw:
            return Plan(Order(knows.interval, Side.OFFER, wh, p.feed_in_price_per_kwh))
        return Plan(Order(knows.interval, Side.BID, wh, p.retail_price_per_kwh))
'''
MARKET_SPEC = """
name = "designs"
scenario = "base.toml"
[axes]
mechanism = ["pay_as_clear", "pay_as_bid"]
strategy = ["zip", "agents/eager.py:0.5"]
grid_fee = "flat:10"
"""


def test_mechanisms_strategies_and_fees_side_by_side(scheduler, base_scenario, tmp_path):
    """Two mechanisms by two strategies (a built-in one for every home, an agent file beside
    the spec for half of them) with a grid fee: four cells of two intervals (seconds each)
    are enough to see each design run, trade, pay its fees and be compared in one table."""
    (tmp_path / "base.toml").write_text(base_scenario)
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "eager.py").write_text(AGENT)
    (tmp_path / "designs.toml").write_text(MARKET_SPEC)
    r = sweep(tmp_path, "designs.toml", "--scheduler", scheduler, "--out", tmp_path / "out",
              columns=200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    table = pd.read_parquet(tmp_path / "out" / "sweep.parquet")
    assert len(table) == 4 and table["error"].isna().all()
    assert sorted(zip(table["mechanism"], table["strategy"])) == [
        ("pay_as_bid", "eager:0.5"), ("pay_as_bid", "zip"), ("pay_as_clear", "eager:0.5"),
        ("pay_as_clear", "zip")]
    assert (table["grid_fee"] == "flat:10").all() and (table["money_conservation_error"] == 0
                                                         ).all()
    eager = table[table["strategy"] == "eager:0.5"]
    assert (eager["trades"] > 0).all() and (eager["grid_fees_total"] > 0).all()
    assert "market designs side by side" in r.stdout and "Grid fees" in r.stdout
    rows = [line for line in r.stdout.splitlines() if "flat:10" in line]
    assert len(rows) == 4 and any("eager:0.5" in row and "pay_as_bid" in row for row in rows)
    assert len({c.name for c in (tmp_path / "out" / "cells").iterdir()}) == 4
