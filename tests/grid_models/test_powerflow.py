"""The batch power flow against pandapower's runpp, snapshot by snapshot."""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grid_models import GridModelError, SnapshotResult, solve_snapshots

VM_TOL = 1e-6  # pu, from the issue
LOADING_TOL = 1e-4  # percentage points, from the issue
DIVERGING_MULTIPLIER = 60.0  # far past the loadability limit of any LV feeder here


def random_injections(net, steps: int, seed: int, peak_multiplier: float):
    """Loads swinging from export to ``peak_multiplier`` x nominal, PV up to 30 kW each, and a
    last snapshot far past the loadability limit."""
    rng = np.random.default_rng(seed)
    nominal = np.maximum(net.load["p_mw"].to_numpy(), 0.003)
    level = rng.uniform(-1.0, peak_multiplier, (steps, 1))
    load_p = nominal * level * rng.uniform(0.5, 1.5, (steps, len(nominal)))
    load_q = load_p * rng.uniform(0.0, 0.4, load_p.shape)
    sgen_p = rng.uniform(0.0, 0.03, (steps, len(net.sgen)))
    sgen_q = rng.uniform(-0.005, 0.005, sgen_p.shape)
    load_p[-1] = nominal * DIVERGING_MULTIPLIER
    load_q[-1] = load_p[-1] * 0.3
    return load_p, load_q, sgen_p, sgen_q


def assert_matches_runpp(net, result: SnapshotResult, arrays) -> list[bool]:
    """Check every snapshot against runpp; return which snapshots violate 0.9-1.1 pu or 100 %."""
    net = copy.deepcopy(net)
    load_p, load_q, sgen_p, sgen_q = arrays
    violated = []
    for t in range(load_p.shape[0]):
        net.load["p_mw"], net.load["q_mvar"] = load_p[t], load_q[t]
        net.sgen["p_mw"], net.sgen["q_mvar"] = sgen_p[t], sgen_q[t]
        try:
            pp.runpp(net)
        except pp.LoadflowNotConverged:
            assert not result.converged[t], f"snapshot {t}: runpp diverges, ours converged"
            assert (
                np.isnan(result.vm_pu[t]).all() and np.isnan(result.line_loading_percent[t]).all()
            )
            violated.append(False)
            continue
        assert result.converged[t], f"snapshot {t}: runpp converges, ours did not"
        np.testing.assert_allclose(result.vm_pu[t], net.res_bus["vm_pu"], rtol=0, atol=VM_TOL)
        np.testing.assert_allclose(result.va_degree[t], net.res_bus["va_degree"], rtol=0, atol=1e-4)
        np.testing.assert_allclose(
            result.line_loading_percent[t],
            net.res_line["loading_percent"],
            rtol=0,
            atol=LOADING_TOL,
        )
        np.testing.assert_allclose(
            result.trafo_loading_percent[t],
            net.res_trafo["loading_percent"],
            rtol=0,
            atol=LOADING_TOL,
        )
        np.testing.assert_allclose(
            result.trafo3w_loading_percent[t],
            net.res_trafo3w["loading_percent"],
            rtol=0,
            atol=LOADING_TOL,
        )
        vm = net.res_bus["vm_pu"].to_numpy()
        loading = np.concatenate(
            [net.res_line["loading_percent"], net.res_trafo["loading_percent"],
             net.res_trafo3w["loading_percent"]]
        )  # fmt: skip
        violated.append(bool((vm > 1.1).any() or (vm < 0.9).any() or (loading > 100).any()))
    return violated


@pytest.mark.parametrize("name, peak", [("cigre", 3.0), ("kerber", 8.0), ("semiurb", 5.0)])
def test_matches_runpp_with_violations_and_divergence(request, name, peak):
    feeder = request.getfixturevalue(name)
    arrays = random_injections(feeder.net, steps=10, seed=7, peak_multiplier=peak)
    result = solve_snapshots(feeder.net, *arrays)
    violated = assert_matches_runpp(feeder.net, result, arrays)
    assert any(violated), "the injections should drive some snapshot past a limit"
    assert not result.converged[-1]
    assert result.converged[:-1].sum() >= 5


def test_topology_changes_follow_pandapower(cigre):
    """Open switch, out-of-service lines and loads, load scaling: as runpp sees them."""
    net = copy.deepcopy(cigre.net)
    net.switch.loc[net.switch.index[0], "closed"] = False  # cuts off the residential feeder
    net.line.loc[net.line.index[20], "in_service"] = False  # cuts off part of the industrial one
    spare = pp.create_line(net, 33, 34, 0.1, "NAYY 4x150 SE", in_service=False)  # both ends live
    net.load.loc[net.load.index[2], "in_service"] = False
    net.load.loc[net.load.index[3], "scaling"] = 0.5
    arrays = random_injections(net, steps=4, seed=3, peak_multiplier=2.0)
    result = solve_snapshots(net, *arrays)
    assert_matches_runpp(net, result, arrays)
    assert np.isnan(result.vm_pu[0]).sum() > 10, "cut-off buses are not energised"
    assert np.isnan(result.line_loading_percent[0, [5, 20, 21]]).all()
    assert result.line_loading_percent[0, net.line.index.get_loc(spare)] == 0.0


def test_profiles_of_a_simbench_day(semiurb):
    arrays = semiurb.profiles.head(96).arrays()
    result = solve_snapshots(semiurb, *arrays)
    assert result.converged.all()
    sample = [0, 47, 95]
    assert_matches_runpp(semiurb.net, result.rows(sample), tuple(a[sample] for a in arrays))


def test_shape_and_value_errors_are_one_line(kerber):
    n = len(kerber.net.load)
    good = np.zeros((2, n))
    none = np.zeros((2, 0))
    with pytest.raises(GridModelError, match="shape"):
        solve_snapshots(kerber, good[:, :-1], good, none, none)
    with pytest.raises(GridModelError, match="NaN"):
        solve_snapshots(kerber, good, np.full((2, n), np.nan), none, none)
    with pytest.raises(GridModelError, match="2-D"):
        solve_snapshots(kerber, good[0], good, none, none)


def test_generators_hold_their_set_points_as_in_runpp(kerber):
    """PV buses: two generators on the feeder, one with a load at its bus."""
    net = copy.deepcopy(kerber.net)
    buses = net.load["bus"].to_numpy()
    pp.create_gen(net, buses[2], p_mw=0.02, vm_pu=1.01)
    pp.create_gen(net, buses[-1], p_mw=0.005, vm_pu=0.99)
    pp.create_sgen(net, buses[4], p_mw=0.01)
    arrays = random_injections(net, steps=6, seed=5, peak_multiplier=4.0)
    result = solve_snapshots(net, *arrays)
    assert result.converged[:-1].all()
    assert_matches_runpp(net, result, arrays)
    rows = np.flatnonzero(result.converged)
    at = net.bus.index.get_indexer(net.gen["bus"])
    np.testing.assert_allclose(result.vm_pu[np.ix_(rows, at)], [[1.01, 0.99]] * len(rows),
                               atol=1e-8)  # fmt: skip


@pytest.fixture(scope="module")
def multivoltage():
    """pandapower's multi-voltage example: 110/20/0.4 kV, a three-winding transformer, a
    generator, extended wards (their own PV buses), an impedance, a shunt and switches."""
    return pn.example_multivoltage()


def _scaled_injections(net, rng, steps: int):
    load_p = net.load["p_mw"].to_numpy() * rng.uniform(0.0, 2.0, (steps, len(net.load)))
    load_q = net.load["q_mvar"].to_numpy() * rng.uniform(0.0, 2.0, load_p.shape)
    sgen_p = net.sgen["p_mw"].to_numpy() * rng.uniform(0.0, 1.5, (steps, len(net.sgen)))
    sgen_q = sgen_p * rng.uniform(-0.3, 0.3, sgen_p.shape)
    return load_p, load_q, sgen_p, sgen_q


def test_three_winding_transformers_and_wards_as_in_runpp(multivoltage):
    arrays = _scaled_injections(multivoltage, np.random.default_rng(3), steps=6)
    result = solve_snapshots(multivoltage, *arrays)
    assert result.converged.all()
    assert result.trafo3w_loading_percent.shape == (6, 1)
    assert assert_matches_runpp(multivoltage, result, arrays).count(True) >= 1


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_any_loading_of_the_multivoltage_net_matches_runpp(multivoltage, seed):
    arrays = _scaled_injections(multivoltage, np.random.default_rng(seed), steps=1)
    result = solve_snapshots(multivoltage, *arrays)
    assert_matches_runpp(multivoltage, result, arrays)


def test_unsupported_elements_are_refused(kerber):
    net = copy.deepcopy(kerber.net)
    pp.create_gen(net, net.load["bus"].iloc[0], p_mw=0.01, vm_pu=1.0, slack=True)
    with pytest.raises(GridModelError, match="slack"):
        solve_snapshots(
            net,
            np.zeros((1, len(net.load))),
            np.zeros((1, len(net.load))),
            np.zeros((1, 0)),
            np.zeros((1, 0)),
        )
