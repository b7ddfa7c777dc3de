"""Grid benchmark: a year of 1-LV-semiurb4--0-sw quarter-hours through the batch power flow.

Side by side, on the same injections: ours (``grid_models.solve_snapshots``, CPU backend);
pandapower's ``run_timeseries`` on a sample of the steps, scaled to the year; power-grid-model's
batch power flow (iterative current and Newton-Raphson, all hardware threads), converted with
power-grid-model-io's pandapower converter. Accuracy of ours against both is reported too, and the
feasibility check of one interval with 100 trades. ``quick`` runs two days and a small sample.
Timings are medians over repeats; on a shared machine, run it twice and read the ratios.
"""

from __future__ import annotations

import copy
import time

import numpy as np

from grid_models import TradeRequest, check_trades, load_feeder, solve_snapshots
from grid_models.feeders import Feeder, Profiles
from testbed.bench import BenchResult, median_seconds

FEEDER = "1-LV-semiurb4--0-sw"
STEPS_PER_DAY = 96
SUMMER_NOON = 180 * STEPS_PER_DAY + 48  # the feasibility interval: PV high, trades curtailed


def run(quick: bool = False) -> BenchResult:
    feeder = load_feeder(FEEDER)
    profiles = feeder.profiles.head(2 * STEPS_PER_DAY) if quick else feeder.profiles
    steps = profiles.steps
    repeats = 1 if quick else 5
    arrays = (profiles.load_p_mw, profiles.load_q_mvar, profiles.sgen_p_mw, profiles.sgen_q_mvar)
    ours = solve_snapshots(feeder, *arrays)
    ours_s = median_seconds(lambda: solve_snapshots(feeder, *arrays), repeats)

    sample = np.linspace(0, steps - 1, 4 if quick else 40).round().astype(int)
    pp_step_s, pp_vm, pp_loading = _pandapower_timeseries(feeder, profiles, sample)
    pp_year_s = pp_step_s * steps
    results: dict[str, float] = {
        "snapshots": steps,
        "ours_s": ours_s,
        "ours_iterations": ours.iterations,
        "ours_not_converged": int((~ours.converged).sum()),
        "pandapower_sample_steps": len(sample),
        "pandapower_per_step_s": pp_step_s,
        "pandapower_scaled_s": pp_year_s,
        "max_vm_diff_vs_pandapower_pu": float(np.nanmax(np.abs(ours.vm_pu[sample] - pp_vm))),
        "max_line_loading_diff_vs_pandapower_pp": float(
            np.nanmax(np.abs(ours.line_loading_percent[sample] - pp_loading))
        ),
    }
    ratios = {"ours_vs_pandapower_timeseries": pp_year_s / ours_s}
    notes = [f"{FEEDER}, {steps} quarter-hours, pandapower sampled on {len(sample)} steps"]

    pgm = _power_grid_model(feeder, profiles, repeats)
    if pgm is None:
        notes.append("power-grid-model(-io) not installed: peer skipped (pip install '.[bench]')")
    else:
        for method, (seconds, vm) in pgm.items():
            results[f"pgm_{method}_s"] = seconds
            results[f"max_vm_diff_vs_pgm_{method}_pu"] = float(np.nanmax(np.abs(ours.vm_pu - vm)))
            ratios[f"ours_vs_pgm_{method}"] = seconds / ours_s

    seconds, limited = _feasibility(feeder, repeats)
    results["check_trades_100_s"] = seconds
    results["check_trades_100_not_accepted"] = limited
    return BenchResult("grid", results, ratios, notes)


def _pandapower_timeseries(feeder: Feeder, profiles: Profiles, sample: np.ndarray):
    """Seconds per step of run_timeseries on the sampled steps, and its vm / line loading."""
    import pandas as pd
    from pandapower.control import ConstControl
    from pandapower.timeseries import DFData, OutputWriter, run_timeseries

    net = copy.deepcopy(feeder.net)
    for element, column, data in (
        ("load", "p_mw", profiles.load_p_mw),
        ("load", "q_mvar", profiles.load_q_mvar),
        ("sgen", "p_mw", profiles.sgen_p_mw),
        ("sgen", "q_mvar", profiles.sgen_q_mvar),
    ):
        index = net[element].index
        if not len(index):
            continue
        frame = pd.DataFrame(data[sample], columns=[f"{element}_{column}_{i}" for i in index])
        ConstControl(
            net,
            element,
            column,
            element_index=index,
            profile_name=frame.columns,
            data_source=DFData(frame),
        )
    writer = OutputWriter(net, time_steps=range(len(sample)), output_path=None, log_variables=[])
    writer.log_variable("res_bus", "vm_pu")
    writer.log_variable("res_line", "loading_percent")
    start = time.perf_counter()
    run_timeseries(net, time_steps=range(len(sample)), verbose=False)
    seconds = (time.perf_counter() - start) / len(sample)
    vm = writer.output["res_bus.vm_pu"].to_numpy()
    loading = writer.output["res_line.loading_percent"].to_numpy()
    return seconds, vm, loading


def _power_grid_model(feeder: Feeder, profiles: Profiles, repeats: int):
    """Median seconds and vm (T, buses) of power-grid-model's batch power flow, per method."""
    try:
        from power_grid_model import (
            CalculationMethod,
            ComponentType,
            DatasetType,
            PowerGridModel,
            initialize_array,
        )
        from power_grid_model_io.converters import PandaPowerConverter
    except ImportError:
        return None
    net = copy.deepcopy(feeder.net)
    missing = net.trafo["vector_group"].isna()
    clocks = (net.trafo["shift_degree"] / 30).round().astype(int) % 12
    net.trafo.loc[missing, "vector_group"] = [f"Dyn{c}" for c in clocks[missing]]
    converter = PandaPowerConverter()
    input_data, _ = converter.load_input_data({k: net[k] for k in net if _is_table(net[k])})
    model = PowerGridModel(input_data, system_frequency=50.0)

    steps = profiles.steps
    update = {}
    for component, element, p, q in (
        (ComponentType.sym_load, "load", profiles.load_p_mw, profiles.load_q_mvar),
        (ComponentType.sym_gen, "sgen", profiles.sgen_p_mw, profiles.sgen_q_mvar),
    ):
        index = net[element].index
        if not len(index):
            continue
        name = "const_power" if element == "load" else None
        array = initialize_array(DatasetType.update, component, (steps, len(index)))
        array["id"] = [converter.get_id(element, i, name) for i in index]
        array["p_specified"] = p * 1e6
        array["q_specified"] = q * 1e6
        update[component] = array
    nodes = [converter.get_id("bus", i) for i in net.bus.index]
    out = {}
    for method in (CalculationMethod.iterative_current, CalculationMethod.newton_raphson):

        def solve(method=method):
            return model.calculate_power_flow(
                update_data=update,
                calculation_method=method,
                threading=0,
                output_component_types={ComponentType.node: ["id", "u_pu"]},
            )

        seconds = median_seconds(solve, repeats)
        node_out = solve()[ComponentType.node]
        order = {int(n): k for k, n in enumerate(node_out["id"][0])}
        out[method.name] = (seconds, node_out["u_pu"][:, [order[n] for n in nodes]])
    return out


def _is_table(value) -> bool:
    import pandas as pd

    return isinstance(value, pd.DataFrame)


def _feasibility(feeder: Feeder, repeats: int) -> tuple[float, int]:
    """Median seconds of check_trades for 100 random trades (1-30 kW between households) at a
    summer noon, and how many of them the feeder could not carry in full."""
    base = feeder.profiles.at(SUMMER_NOON)
    rng = np.random.default_rng(1)
    buses = sorted(set(feeder.load_bus.values()))
    trades = [
        TradeRequest(i, int(rng.choice(buses)), int(rng.choice(buses)), float(rng.uniform(1, 30)))
        for i in range(100)
    ]
    seconds = median_seconds(lambda: check_trades(feeder, base, trades), repeats)
    decisions = check_trades(feeder, base, trades).decisions
    return seconds, sum(d.status != "accepted" for d in decisions)
