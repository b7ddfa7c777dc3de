"""Grid benchmark: a year of quarter-hours of three SimBench feeders through the batch power flow.

Feeders (``FEEDERS``): the default scenario's 1-LV-semiurb4--0-sw, the largest SimBench LV feeder
(1-LV-rural3--0-sw, 129 buses) and an MV feeder (1-MV-semiurb--0-sw, 117 buses, 121 generators).
Side by side, on the same injections, in one process:

- ours: ``grid_models.solve_snapshots``, CPU backend, all cores;
- power-grid-model's batch power flow, iterative current and Newton-Raphson, all hardware
  threads, converted with power-grid-model-io's pandapower converter; the external grid is made
  ideal (an infinite short-circuit power), as runpp's slack is, so that both solve the same
  problem;
- pandapower's ``run_timeseries`` (runpp per step) on a sample of the steps, scaled to the year:
  its voltages are the accuracy reference, ours must be within 1e-6 pu of them.

Unbalanced (``UNBALANCED``: the default and the largest LV feeder), the year again with each
load on a phase drawn by `PHASES_SEED` (`grid_models.unbalanced`), side by side with:

- ``runpp_3ph`` on a sample of the snapshots, scaled to the year: its phase voltages are the
  accuracy reference, ours must be within 1e-6 pu of them on every phase;
- power-grid-model's asymmetric batch power flow (iterative current and Newton-Raphson), on the
  same net converted by power-grid-model-io: its transformer's zero sequence is the
  positive one (``vk0 = vk``), so the bench's net says so for all three, and ideal sources.

The town (``TOWN``, SimBench's MV+LV grid: 9,099 buses, 8,772 loads), balanced: its year
through ours and power-grid-model's batch in parts (a year at once is gigabytes), with runpp on
a sample as the accuracy reference (not with ``quick``).

And ``check_trades`` with 100 trades at a summer noon of the default feeder. ``quick`` runs two
days and a small sample. Timings are medians over repeats; on a shared machine, read the ratios.
"""

from __future__ import annotations

import copy
import time

import numpy as np

from grid_models import TradeRequest, check_trades, load_feeder, solve_snapshots
from grid_models.feeders import Feeder, Profiles
from grid_models.phases import draw_phases
from testbed.benchmarks import BenchResult, median_seconds
from testbed.benchmarks.town import TOWN

FEEDERS = {  # short name in the figures: SimBench code
    "semiurb4": "1-LV-semiurb4--0-sw",
    "rural3": "1-LV-rural3--0-sw",
    "mv_semiurb": "1-MV-semiurb--0-sw",
}
DEFAULT = "semiurb4"
UNBALANCED = ("semiurb4", "rural3")  # the default and the largest SimBench LV feeder
PHASES_SEED = 0
STEPS_PER_DAY = 96
SUMMER_NOON = 180 * STEPS_PER_DAY + 48  # the feasibility interval: PV high, trades curtailed
PGM_METHODS = ("iterative_current", "newton_raphson")
TOWN_PART_STEPS = 1024  # the town's snapshots solved at once: 150 MB of injections


def run(quick: bool = False) -> BenchResult:
    results: dict[str, float] = {}
    ratios: dict[str, float] = {}
    notes = []
    for short, code in FEEDERS.items():
        feeder = load_feeder(code)
        profiles = feeder.profiles.head(2 * STEPS_PER_DAY) if quick else feeder.profiles
        figures, feeder_ratios = _feeder_figures(feeder, profiles, quick)
        results.update({f"{short}_{name}": value for name, value in figures.items()})
        ratios.update({f"{name}_{short}": value for name, value in feeder_ratios.items()})
        notes.append(
            f"{short} = {code}: {len(feeder.net.bus)} buses, {profiles.steps} quarter-hours"
        )
    for short in UNBALANCED:
        feeder = load_feeder(FEEDERS[short])
        profiles = feeder.profiles.head(2 * STEPS_PER_DAY) if quick else feeder.profiles
        figures, feeder_ratios = _unbalanced_figures(feeder, profiles, quick)
        results.update({f"{short}_unbalanced_{name}": v for name, v in figures.items()})
        ratios.update({f"{name}_{short}": value for name, value in feeder_ratios.items()})
    notes.append(f"unbalanced: each load on a phase drawn by seed {PHASES_SEED}; the "
                 "transformers' zero sequence vk0 = vk (power-grid-model's), ideal sources")
    if quick:
        notes.append("town: not with --quick (loading and converting it take half a minute)")
    else:
        town, town_ratios = _town_figures(load_feeder(TOWN), quick)
        results.update({f"town_{name}": value for name, value in town.items()})
        ratios.update({f"{name}_town": value for name, value in town_ratios.items()})
        notes.append(f"town = {TOWN}: {town['buses']:.0f} buses, {town['snapshots']:.0f} "
                     f"quarter-hours in parts of {TOWN_PART_STEPS}, each solved once")
    seconds, limited = _feasibility(load_feeder(FEEDERS[DEFAULT]), 1 if quick else 5)
    results["check_trades_100_s"] = seconds
    results["check_trades_100_not_accepted"] = limited
    return BenchResult("grid", results, ratios, notes)


def _feeder_figures(feeder: Feeder, profiles: Profiles, quick: bool):
    steps = profiles.steps
    repeats = 1 if quick else 5
    arrays = profiles.arrays()
    ours = solve_snapshots(feeder, *arrays)
    ours_s = median_seconds(lambda: solve_snapshots(feeder, *arrays), repeats)

    sample = np.linspace(0, steps - 1, 4 if quick else 40).round().astype(int)
    pp_step_s, pp_vm, pp_loading = _pandapower_timeseries(feeder, profiles, sample)
    pp_year_s = pp_step_s * steps
    figures: dict[str, float] = {
        "snapshots": steps,
        "ours_s": ours_s,
        "ours_iterations": ours.iterations,
        "ours_not_converged": int((~ours.converged).sum()),
        "pandapower_per_step_s": pp_step_s,
        "pandapower_scaled_s": pp_year_s,
        "max_vm_diff_vs_pandapower_pu": float(np.nanmax(np.abs(ours.vm_pu[sample] - pp_vm))),
        "max_line_loading_diff_vs_pandapower_pp": float(
            np.nanmax(np.abs(ours.line_loading_percent[sample] - pp_loading))
        ),
    }
    ratios = {"ours_vs_pandapower_timeseries": pp_year_s / ours_s}
    for method, (seconds, vm) in _power_grid_model(feeder, profiles, 1 if quick else 3).items():
        figures[f"pgm_{method}_s"] = seconds
        figures[f"max_vm_diff_vs_pgm_{method}_pu"] = float(np.nanmax(np.abs(ours.vm_pu - vm)))
        ratios[f"ours_vs_pgm_{method}"] = seconds / ours_s
    return figures, ratios


def _town_figures(feeder: Feeder, quick: bool):
    """The town's year of quarter-hours through ours and power-grid-model's batch, in parts of
    `TOWN_PART_STEPS` snapshots (the whole year at once is gigabytes of injections and
    voltages for either), their voltages compared part by part; pandapower's runpp on a
    sample is the accuracy reference, as for the feeders."""
    steps = 2 * STEPS_PER_DAY if quick else feeder.profiles.steps
    tables = feeder.profiles.head(steps).tables()
    model = feeder.model
    pgm, converter, net = _pgm_balanced(feeder)
    ours_s, not_converged, iterations = 0.0, 0, 0
    pgm_s = dict.fromkeys(PGM_METHODS, 0.0)
    pgm_diff = dict.fromkeys(PGM_METHODS, 0.0)
    sample = np.linspace(0, steps - 1, 2 if quick else 4).round().astype(int)
    sampled_vm = np.empty((len(sample), len(net.bus)))
    for first in range(0, steps, TOWN_PART_STEPS):
        rows = np.arange(first, min(steps, first + TOWN_PART_STEPS))
        arrays = tuple(np.ascontiguousarray(table[rows]) for table in tables)
        start = time.perf_counter()
        ours = solve_snapshots(model, *arrays)
        ours_s += time.perf_counter() - start
        not_converged += int((~ours.converged).sum())
        iterations = max(iterations, ours.iterations)
        inside = np.isin(sample, rows)
        sampled_vm[inside] = ours.vm_pu[sample[inside] - first]
        update, nodes = _pgm_update(net, converter, arrays)
        for method, (seconds, vm) in _pgm_solved(pgm, update, nodes, 1, symmetric=True).items():
            pgm_s[method] += seconds
            pgm_diff[method] = max(pgm_diff[method], float(np.nanmax(np.abs(ours.vm_pu - vm))))
    reference = Profiles(*(np.asarray(table[sample]) for table in tables))
    pp_step_s, pp_vm, _ = _pandapower_timeseries(feeder, reference, np.arange(len(sample)))
    figures: dict[str, float] = {
        "buses": len(net.bus),
        "snapshots": steps,
        "ours_s": ours_s,
        "ours_iterations": iterations,
        "ours_not_converged": not_converged,
        "pandapower_per_step_s": pp_step_s,
        "pandapower_scaled_s": pp_step_s * steps,
        "max_vm_diff_vs_pandapower_pu": float(np.nanmax(np.abs(sampled_vm - pp_vm))),
    }
    ratios = {"ours_vs_pandapower_timeseries": pp_step_s * steps / ours_s}
    for method in PGM_METHODS:
        figures[f"pgm_{method}_s"] = pgm_s[method]
        figures[f"max_vm_diff_vs_pgm_{method}_pu"] = pgm_diff[method]
        ratios[f"ours_vs_pgm_{method}"] = pgm_s[method] / ours_s
    return figures, ratios


def _pandapower_timeseries(feeder: Feeder, profiles: Profiles, sample: np.ndarray):
    """Seconds per step of run_timeseries on the sampled steps, and its vm / line loading."""
    import pandas as pd
    from pandapower.control import ConstControl
    from pandapower.timeseries import DFData, OutputWriter, run_timeseries

    net = copy.deepcopy(feeder.net)
    for element, column, data in (
        ("load", "p_mw", np.asarray(profiles.load_p_mw)),
        ("load", "q_mvar", np.asarray(profiles.load_q_mvar)),
        ("sgen", "p_mw", np.asarray(profiles.sgen_p_mw)),
        ("sgen", "q_mvar", np.asarray(profiles.sgen_q_mvar)),
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
    model, converter, net = _pgm_balanced(feeder)
    update, nodes = _pgm_update(net, converter, profiles.arrays())
    return _pgm_solved(model, update, nodes, repeats, symmetric=True)


def _pgm_balanced(feeder: Feeder):
    """power-grid-model's model of the feeder (balanced), its converter and the net it was
    made from: transformers without a vector group get one from their phase shift, and the
    external grid is ideal, as runpp's slack is (a finite one moves every bus)."""
    net = copy.deepcopy(feeder.net)
    missing = net.trafo["vector_group"].isna()
    clocks = (net.trafo["shift_degree"] / 30).round().astype(int) % 12
    net.trafo.loc[missing, "vector_group"] = [f"Dyn{c}" for c in clocks[missing]]
    net.ext_grid["s_sc_max_mva"] = 1e12
    model, converter = _pgm_model(net)
    return model, converter, net


def _pgm_update(net, converter, arrays):
    """power-grid-model's batch update of the loads' and generators' powers (T, elements),
    and the ids of the net's buses, in net order."""
    from power_grid_model import ComponentType, DatasetType, initialize_array

    steps = arrays[0].shape[0]
    update = {}
    for component, element, p, q in (
        (ComponentType.sym_load, "load", *arrays[:2]),
        (ComponentType.sym_gen, "sgen", *arrays[2:]),
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
    return update, [converter.get_id("bus", i) for i in net.bus.index]


def _pgm_solved(model, update: dict, nodes: list[int], repeats: int, *, symmetric: bool):
    """Median seconds and node voltages (T, nodes) of a power-grid-model batch per method
    (asymmetric: (T, 3, nodes))."""
    from power_grid_model import CalculationMethod, ComponentType

    out = {}
    for method in PGM_METHODS:
        calculation = CalculationMethod[method]

        def solve(calculation=calculation):
            return model.calculate_power_flow(
                update_data=update, symmetric=symmetric, calculation_method=calculation,
                threading=0, output_component_types={ComponentType.node: ["id", "u_pu"]})

        seconds = median_seconds(solve, repeats)
        node_out = solve()[ComponentType.node]
        order = {int(n): k for k, n in enumerate(node_out["id"][0])}
        u = node_out["u_pu"][:, [order[n] for n in nodes]]
        out[method] = (seconds, u if symmetric else u.transpose(0, 2, 1))
    return out


def _is_table(value) -> bool:
    import pandas as pd

    return isinstance(value, pd.DataFrame)


def _unbalanced_figures(feeder: Feeder, profiles: Profiles, quick: bool):
    """Ours unbalanced against runpp_3ph (a sample) and power-grid-model's asymmetric batch."""
    from grid_models.unbalanced import with_zero_sequence

    net = with_zero_sequence(feeder.net)
    net.trafo["vk0_percent"] = net.trafo["vk_percent"]  # what power-grid-model can model
    net.trafo["vkr0_percent"] = net.trafo["vkr_percent"]
    phases = draw_phases(np.random.default_rng(PHASES_SEED), len(net.load))
    bench = Feeder(feeder.name, net, feeder.load_bus, feeder.sgen_bus, profiles, phases)
    steps, repeats = profiles.steps, 1 if quick else 5
    arrays = profiles.arrays()
    ours = solve_snapshots(bench, *arrays)
    ours_s = median_seconds(lambda: solve_snapshots(bench, *arrays), repeats)
    sample = np.linspace(0, steps - 1, 2 if quick else 10).round().astype(int)
    ref_step_s, ref_vm = _runpp_3ph(net, phases, arrays, sample)
    figures: dict[str, float] = {
        "snapshots": steps,
        "ours_s": ours_s,
        "ours_iterations": ours.iterations,
        "ours_not_converged": int((~ours.converged).sum()),
        "vuf_max_percent": float(np.nanmax(ours.vuf_percent)),
        "runpp_3ph_per_step_s": ref_step_s,
        "runpp_3ph_scaled_s": ref_step_s * steps,
        "max_vm_diff_vs_runpp_3ph_pu": float(np.nanmax(np.abs(ours.vm_pu[sample] - ref_vm))),
    }
    ratios = {"ours_unbalanced_vs_runpp_3ph": ref_step_s * steps / ours_s}
    asym = _power_grid_model_asym(net, phases, arrays, 1 if quick else 3)
    for method, (seconds, vm) in asym.items():
        figures[f"pgm_asym_{method}_s"] = seconds
        figures[f"max_vm_diff_vs_pgm_asym_{method}_pu"] = float(np.nanmax(np.abs(ours.vm_pu - vm)))
    ratios["ours_unbalanced_vs_power_grid_model_asym"] = min(t for t, _ in asym.values()) / ours_s
    return figures, ratios


def _runpp_3ph(net, phases, arrays, sample: np.ndarray):
    """Seconds per snapshot of ``runpp_3ph`` on the sampled snapshots, and their phase
    voltages (samples, 3, buses)."""
    from pandapower.pf.runpp_3ph import runpp_3ph

    from grid_models.unbalanced import reference_net

    nets = [reference_net(net, phases, *(a[t] for a in arrays)) for t in sample]
    vm = np.empty((len(sample), 3, len(net.bus)))
    start = time.perf_counter()
    for k, ref in enumerate(nets):
        runpp_3ph(ref)
        vm[k] = ref.res_bus_3ph[["vm_a_pu", "vm_b_pu", "vm_c_pu"]].to_numpy().T
    return (time.perf_counter() - start) / len(sample), vm


def _power_grid_model_asym(net, phases, arrays, repeats: int):
    """Median seconds and phase voltages (T, 3, buses) of power-grid-model's asymmetric batch
    power flow, per method: each load an asymmetric load on its phase(s), generators
    three-phase, the external grid ideal."""
    from power_grid_model import ComponentType, DatasetType, initialize_array

    from grid_models.phases import PHASE_SHARES
    from grid_models.unbalanced import reference_net

    ref = reference_net(net, phases, *(a[0] for a in arrays))
    ref.ext_grid["s_sc_max_mva"] = 1e12  # runpp's slack is ideal; a finite one moves every bus
    ref.ext_grid["r0x0_max"] = ref.ext_grid["rx_max"]  # power-grid-model takes one R/X
    # nor does it split a transformer's zero sequence over a T: it would ignore the split, and
    # say so on standard output, which is the bench's JSON
    ref.trafo = ref.trafo.drop(columns="si0_hv_partial")
    model, converter = _pgm_model(ref)
    steps = arrays[0].shape[0]
    shares = np.array([PHASE_SHARES[p] for p in phases])  # (loads, 3)
    loads = initialize_array(DatasetType.update, ComponentType.asym_load,
                             (steps, len(ref.asymmetric_load)))
    loads["id"] = [converter.get_id("asymmetric_load", i) for i in ref.asymmetric_load.index]
    loads["p_specified"] = arrays[0][:, :, None] * shares[None] * 1e6
    loads["q_specified"] = arrays[1][:, :, None] * shares[None] * 1e6
    update = {ComponentType.asym_load: loads}
    if len(ref.sgen):
        gens = initialize_array(DatasetType.update, ComponentType.sym_gen, (steps, len(ref.sgen)))
        gens["id"] = [converter.get_id("sgen", i) for i in ref.sgen.index]
        gens["p_specified"] = arrays[2] * 1e6
        gens["q_specified"] = arrays[3] * 1e6
        update[ComponentType.sym_gen] = gens
    nodes = [converter.get_id("bus", i) for i in ref.bus.index]
    return _pgm_solved(model, update, nodes, repeats, symmetric=False)


def _pgm_model(net):
    """power-grid-model's model of a pandapower net (power-grid-model-io's converter), and the
    converter (its ids)."""
    from power_grid_model import PowerGridModel
    from power_grid_model_io.converters import PandaPowerConverter

    converter = PandaPowerConverter()
    input_data, _ = converter.load_input_data({k: net[k] for k in net if _is_table(net[k])})
    return PowerGridModel(input_data, system_frequency=50.0), converter


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
