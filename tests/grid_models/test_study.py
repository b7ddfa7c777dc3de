"""`testbed study`: the report's tables and files."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd

from grid_models import Limits, study
from grid_models.feeders import load_feeder
from grid_models.powerflow import element_injections, solve_injections
from grid_models.study import STEPS_PER_DAY, main, run_study


def test_one_day_writes_the_tables(semiurb, tmp_path, capsys):
    assert main("1-LV-semiurb4--0-sw", 1, tmp_path) == 0
    printed = capsys.readouterr().out
    assert "study of 1-LV-semiurb4--0-sw" in printed and "hosting capacity" in printed
    intervals = pd.read_csv(tmp_path / "intervals.csv")
    assert len(intervals) == STEPS_PER_DAY
    assert intervals["converged"].all()
    hosting = pd.read_csv(tmp_path / "hosting_capacity.csv")
    assert set(hosting["bus"]) == set(semiurb.model.bus_pos)
    assert (hosting["hosting_capacity_kw"] > 0).all()
    assert (tmp_path / "elements.csv").exists()


def test_violations_are_counted_per_interval_and_element(semiurb):
    tight = Limits(vm_min_pu=1.01, vm_max_pu=1.02)  # the profiles live around 1.005-1.025 pu
    report = run_study(semiurb, days=2, limits=tight)
    iv = report.intervals
    assert (iv["voltage_high"] > 0).any()
    assert (iv["vm_max_pu"] > 1.02).eq(iv["voltage_high"] > 0).all()
    assert (iv["vm_min_pu"] < 1.01).eq(iv["voltage_low"] > 0).all()
    worst = report.elements.iloc[0]
    assert worst["kind"] in {"voltage_high", "voltage_low"}
    assert worst["intervals"] == report.elements["intervals"].max()
    # hosting capacity: more PV at a bus than its capacity violates, less does not
    assert (report.hosting["hosting_capacity_kw"] == 0).all()  # tight band already violated


def test_hosting_capacity_is_the_first_violation(semiurb):
    report = run_study(semiurb, days=1)
    weakest = report.hosting.iloc[0]
    capacity_mw = weakest["hosting_capacity_kw"] / 1000
    assert 0.01 < capacity_mw < 10
    model = semiurb.model
    day = semiurb.profiles.head(STEPS_PER_DAY)
    worst = study._lowest_demand(day.arrays())
    s = element_injections(
        model,
        day.load_p_mw[worst],
        day.load_q_mvar[worst],
        day.sgen_p_mw[worst],
        day.sgen_q_mvar[worst],
    )
    column = model.bus_pos[int(weakest["bus"])]

    def violated(extra_mw: float) -> bool:
        result = solve_injections(
            model, s + np.eye(model.n_nodes)[column] * extra_mw / model.base_mva
        )
        limits = Limits()
        return bool(
            (~result.converged).any()
            or (result.vm_pu > limits.vm_max_pu).any()
            or (result.line_loading_percent > 100).any()
            or (result.trafo_loading_percent > 100).any()
        )

    assert not violated(capacity_mw * 0.99)
    assert violated(capacity_mw * 1.01)


def test_a_builtin_feeder_is_studied_with_standard_profiles(capsys):
    assert main("kerber_landnetz_kabel_1", 1, None) == 0
    assert "study of kerber_landnetz_kabel_1" in capsys.readouterr().out


def test_three_winding_transformers_are_counted(tmp_path):
    path = tmp_path / "multivoltage.json"
    pp.to_json(pn.example_multivoltage(), str(path))
    tight = Limits(max_trafo3w_loading_percent=1.0)
    report = run_study(load_feeder(str(path)), days=1, limits=tight)
    assert (report.intervals["trafo3w_loading"] == 1).all()
    assert "trafo3w 0" in set(report.elements["element"])
