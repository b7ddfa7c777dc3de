"""The batch Z-bus fixed point on hand-made networks, with plain arrays only."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import powerflow
from kernels.powerflow import snapshot_outputs, zbus_fixed_point


def radial_network(n: int, seed: int):
    """A random radial feeder of ``n`` PQ buses below a slack at 1.02 pu (per unit, 0.4 kV-ish
    impedances). Returns the full Ybus (slack last), z, v0 and the slack voltage."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n + 1, n + 1), dtype=np.complex128)
    for k in range(n):
        parent = n if k == 0 else int(rng.integers(0, k))
        branch = 1 / complex(rng.uniform(0.005, 0.05), rng.uniform(0.002, 0.02))
        y[[k, parent], [k, parent]] += branch
        y[k, parent] -= branch
        y[parent, k] -= branch
        y[k, k] += 1j * rng.uniform(0, 1e-4)  # line charging
    v_slack = 1.02 * np.exp(0.1j)
    z = np.linalg.inv(y[:n, :n])
    v0 = -z @ y[:n, n] * v_slack
    return y, z, v0, v_slack


def mismatch(y, v_pq, v_slack, s):
    """Largest |S_injected - V conj(Y V)| over PQ buses, per snapshot."""
    v = np.concatenate([v_pq, np.full((v_pq.shape[0], 1), v_slack)], axis=1)
    computed = v * np.conj(v @ y.T)
    return np.abs(computed[:, :-1] - s).max(axis=1)


def test_solution_balances_power_at_every_bus():
    y, z, v0, v_slack = radial_network(12, seed=1)
    rng = np.random.default_rng(2)
    s = -(rng.uniform(0, 0.1, (50, 12)) + 1j * rng.uniform(0, 0.04, (50, 12)))
    result = zbus_fixed_point(z, v0, s)
    assert result.converged.all()
    assert mismatch(y, result.voltages, v_slack, s).max() < 1e-8
    assert np.allclose(result.voltages, v0 + result.currents @ z.T, atol=1e-9)


def test_impossible_snapshots_are_flagged_and_the_rest_solved():
    y, z, v0, v_slack = radial_network(8, seed=3)
    s = -np.full((4, 8), 0.05 + 0.01j)
    s[1] *= 400  # far beyond the loadability limit
    result = zbus_fixed_point(z, v0, s, max_iter=100)
    assert result.converged.tolist() == [True, False, True, True]
    assert mismatch(y, result.voltages[[0, 2, 3]], v_slack, s[[0, 2, 3]]).max() < 1e-8


def test_blocks_and_threads_give_the_same_answer_as_one_by_one(monkeypatch):
    _, z, v0, _ = radial_network(6, seed=4)
    rng = np.random.default_rng(5)
    s = -(rng.uniform(0, 1, (300, 6)) + 0.3j * rng.uniform(0, 1, (300, 6)))
    monkeypatch.setattr(powerflow, "_BLOCK_ROWS", 64)  # five blocks, spread over the threads
    batch = zbus_fixed_point(z, v0, s)
    single = [zbus_fixed_point(z, v0, s[t : t + 1]) for t in (0, 63, 64, 299)]
    for t, one in zip((0, 63, 64, 299), single):
        np.testing.assert_allclose(batch.voltages[t], one.voltages[0], rtol=0, atol=1e-13)
        assert batch.converged[t] == one.converged[0]


def test_empty_inputs():
    _, z, v0, _ = radial_network(3, seed=6)
    result = zbus_fixed_point(z, v0, np.zeros((0, 3)))
    assert result.voltages.shape == (0, 3) and result.converged.shape == (0,)
    none = zbus_fixed_point(np.zeros((0, 0)), np.zeros(0), np.zeros((2, 0)))
    assert none.converged.all()


def test_unknown_backend_is_refused():
    _, z, v0, _ = radial_network(3, seed=6)
    with pytest.raises(ValueError, match="backend"):
        zbus_fixed_point(z, v0, np.zeros((1, 3)), backend="fpga")


def test_outputs_read_voltages_and_branch_currents():
    """Two PQ buses and a slack; one branch from PQ bus 1 to the slack, one out of service."""
    currents = np.array([[1 + 1j, 2.0], [0.5, 0.5]])
    z = np.array([[0.01, 0.0], [0.0, 0.02j]])
    v0 = np.array([1.0, 0.99 + 0.01j])
    v_slack = np.array([1.02 + 0j])
    adm = np.array([[2 - 1j, -2 + 1j, -2 + 1j, 2 - 1j], [0, 0, 0, 0]])
    vm, va, loading = snapshot_outputs(
        currents, z, v0, v_slack,
        bus_node=np.array([2, 0, -1, 1]),
        branch_nodes=np.array([[1, 2], [0, 0]]),
        branch_adm=adm,
        branch_k=np.array([10.0, 10.0, 1.0, 1.0]),
        converged=np.array([True, False]),
    )  # fmt: skip
    v = v0 + currents[0] @ z.T
    np.testing.assert_allclose(vm[0], [1.02, abs(v[0]), np.nan, abs(v[1])])
    np.testing.assert_allclose(va[0, 1], np.degrees(np.angle(v[0])))
    i_from = adm[0, 0] * v[1] + adm[0, 1] * v_slack[0]
    i_to = adm[0, 2] * v[1] + adm[0, 3] * v_slack[0]
    assert loading[0, 0] == pytest.approx(max(10 * abs(i_from), abs(i_to)))
    assert loading[0, 1] == 0.0
    assert np.isnan(vm[1]).all() and np.isnan(loading[1]).all()


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 15),
    seed=st.integers(0, 10_000),
    steps=st.integers(1, 20),
    demand=st.floats(0.0, 0.3),
    export=st.floats(0.0, 0.3),
)
def test_any_modest_radial_case_converges_and_balances(n, seed, steps, demand, export):
    y, z, v0, v_slack = radial_network(n, seed)
    rng = np.random.default_rng(seed + 1)
    s = rng.uniform(-demand, export, (steps, n)) + 1j * rng.uniform(-0.1, 0.1, (steps, n)) * demand
    result = zbus_fixed_point(z, v0, s / n)
    assert result.converged.all()
    assert mismatch(y, result.voltages, v_slack, s / n).max() < 1e-8
