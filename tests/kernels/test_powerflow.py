"""The batch Z-bus fixed point on hand-made networks, with plain arrays only."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from kernels import powerflow
from kernels.powerflow import (
    PVNodes,
    factorize,
    minimum_degree_order,
    snapshot_outputs,
    zbus_fixed_point,
)


def random_network(n: int, seed: int, meshes: int = 0):
    """A random radial feeder of ``n`` non-slack buses below a slack at 1.02 pu (per unit,
    0.4 kV-ish impedances), with ``meshes`` extra branches closing loops. Returns the full Ybus
    (slack last), its factor, v0 and the slack voltage."""
    rng = np.random.default_rng(seed)
    y = np.zeros((n + 1, n + 1), dtype=np.complex128)
    pairs = [(k, n if k == 0 else int(rng.integers(0, k))) for k in range(n)]
    pairs += [tuple(rng.choice(n, 2, replace=False)) for _ in range(meshes if n > 1 else 0)]
    for a, b in pairs:
        branch = 1 / complex(rng.uniform(0.005, 0.05), rng.uniform(0.002, 0.02))
        y[[a, b], [a, b]] += branch
        y[a, b] -= branch
        y[b, a] -= branch
    y[np.arange(n), np.arange(n)] += 1j * rng.uniform(0, 1e-4, n)  # line charging
    v_slack = 1.02 * np.exp(0.1j)
    factor = factorize(sparse.csc_matrix(y[:n, :n]))
    v0 = -np.linalg.solve(y[:n, :n], y[:n, n] * v_slack)
    return y, factor, v0, v_slack


def mismatch(y, v, v_slack, s):
    """Largest |S_injected - V conj(Y V)| over the non-slack buses, per snapshot."""
    full = np.concatenate([v, np.full((v.shape[0], 1), v_slack)], axis=1)
    computed = full * np.conj(full @ y.T)
    return np.abs(computed[:, :-1] - s).max(axis=1)


def test_factor_applies_the_inverse_and_a_tree_has_no_fill():
    y, factor, _, _ = random_network(30, seed=1)
    z = factor.solve(np.eye(30))  # rows: Z applied to each unit vector, i.e. Z transposed
    np.testing.assert_allclose(z.T @ y[:30, :30], np.eye(30), atol=1e-9)
    assert len(factor.l_idx) == len(factor.u_idx) == 29  # one entry per branch: no fill


def test_minimum_degree_eliminates_leaves_first():
    path = sparse.diags([1.0, 1.0, 1.0], [-1, 0, 1], shape=(5, 5))  # a chain 0-1-2-3-4
    order = minimum_degree_order(path).tolist()
    assert sorted(order) == list(range(5)) and order[0] in (0, 4)


def test_solution_balances_power_at_every_bus():
    y, factor, v0, v_slack = random_network(12, seed=1, meshes=3)
    rng = np.random.default_rng(2)
    s = -(rng.uniform(0, 0.1, (50, 12)) + 1j * rng.uniform(0, 0.04, (50, 12)))
    result = zbus_fixed_point(factor, v0, s)
    assert result.converged.all()
    assert mismatch(y, result.voltages, v_slack, s).max() < 1e-8


def test_pv_nodes_hold_their_voltage_and_balance_active_power():
    y, factor, v0, v_slack = random_network(10, seed=8, meshes=1)
    rng = np.random.default_rng(9)
    s = -(rng.uniform(0, 0.1, (20, 10)) + 0.03j)
    pv = PVNodes.of(factor, np.array([3, 7]), np.array([1.01, 1.0]))
    result = zbus_fixed_point(factor, v0, s, pv=pv)
    assert result.converged.all()
    np.testing.assert_allclose(np.abs(result.voltages[:, [3, 7]]), [[1.01, 1.0]] * 20, atol=1e-8)
    solved = s.copy()
    solved[:, [3, 7]] = s[:, [3, 7]].real + 1j * result.pv_q
    assert mismatch(y, result.voltages, v_slack, solved).max() < 1e-8


def test_impossible_snapshots_are_flagged_and_the_rest_solved():
    y, factor, v0, v_slack = random_network(8, seed=3)
    s = -np.full((4, 8), 0.05 + 0.01j)
    s[1] *= 400  # far beyond the loadability limit
    result = zbus_fixed_point(factor, v0, s, max_iter=100)
    assert result.converged.tolist() == [True, False, True, True]
    assert mismatch(y, result.voltages[[0, 2, 3]], v_slack, s[[0, 2, 3]]).max() < 1e-8


def test_a_snapshot_gives_the_same_bits_whatever_its_batch(monkeypatch):
    _, factor, v0, _ = random_network(6, seed=4)
    rng = np.random.default_rng(5)
    s = -(rng.uniform(0, 1, (300, 6)) + 0.3j * rng.uniform(0, 1, (300, 6)))
    monkeypatch.setattr(powerflow, "_TASK_ROWS", 64)  # five tasks, spread over the threads
    batch = zbus_fixed_point(factor, v0, s)
    for t in (0, 63, 64, 200, 299):
        one = zbus_fixed_point(factor, v0, s[t : t + 1])
        assert np.array_equal(batch.voltages[t], one.voltages[0])
        assert batch.converged[t] == one.converged[0]


def test_a_warm_start_converges_to_the_same_solution():
    y, factor, v0, v_slack = random_network(9, seed=11)
    s = -np.full((3, 9), 0.04 + 0.01j)
    cold = zbus_fixed_point(factor, v0, s)
    warm = zbus_fixed_point(factor, v0, s * 1.001, v_start=cold.voltages)
    assert warm.converged.all() and warm.iterations < cold.iterations
    assert mismatch(y, warm.voltages, v_slack, s * 1.001).max() < 1e-8
    with pytest.raises(ValueError, match="v_start"):
        zbus_fixed_point(factor, v0, s, v_start=cold.voltages[:1])


def test_empty_inputs():
    _, factor, v0, _ = random_network(3, seed=6)
    result = zbus_fixed_point(factor, v0, np.zeros((0, 3)))
    assert result.voltages.shape == (0, 3) and result.converged.shape == (0,)
    nothing = factorize(sparse.csc_matrix((0, 0), dtype=complex))
    none = zbus_fixed_point(nothing, np.zeros(0), np.zeros((2, 0)))
    assert none.converged.all()


def test_bad_calls_are_refused():
    _, factor, v0, _ = random_network(3, seed=6)
    with pytest.raises(ValueError, match="backend"):
        zbus_fixed_point(factor, v0, np.zeros((1, 3)), backend="fpga")
    with pytest.raises(ValueError, match="columns"):
        zbus_fixed_point(factor, v0, np.zeros((1, 4)))
    with pytest.raises(ValueError, match="pivoting"):
        factorize(sparse.csc_matrix(np.array([[0, 1], [1, 0]], dtype=complex)))


def test_outputs_read_voltages_and_branch_currents():
    """Two non-slack buses and a slack; one branch from bus 1 to the slack, one out of service."""
    v = np.array([[1.0 + 0.01j, 0.99 + 0.02j], [0.5, 0.5]])
    v_slack = np.array([1.02 + 0j])
    adm = np.array([[2 - 1j, -2 + 1j, -2 + 1j, 2 - 1j], [0, 0, 0, 0]])
    vm, va, loading = snapshot_outputs(
        v, v_slack,
        bus_node=np.array([2, 0, -1, 1]),
        branch_nodes=np.array([[1, 2], [0, 0]]),
        branch_adm=adm,
        branch_k=np.array([10.0, 10.0, 1.0, 1.0]),
        converged=np.array([True, False]),
    )  # fmt: skip
    np.testing.assert_allclose(vm[0], [1.02, abs(v[0, 0]), np.nan, abs(v[0, 1])])
    np.testing.assert_allclose(va[0, 1], np.degrees(np.angle(v[0, 0])))
    i_from = adm[0, 0] * v[0, 1] + adm[0, 1] * v_slack[0]
    i_to = adm[0, 2] * v[0, 1] + adm[0, 3] * v_slack[0]
    assert loading[0, 0] == pytest.approx(max(10 * abs(i_from), abs(i_to)))
    assert loading[0, 1] == 0.0
    assert np.isnan(vm[1]).all() and np.isnan(loading[1]).all()


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 15),
    meshes=st.integers(0, 3),
    seed=st.integers(0, 10_000),
    steps=st.integers(1, 20),
    demand=st.floats(0.0, 0.3),
    export=st.floats(0.0, 0.3),
)
def test_any_modest_case_converges_and_balances(n, meshes, seed, steps, demand, export):
    y, factor, v0, v_slack = random_network(n, seed, meshes)
    rng = np.random.default_rng(seed + 1)
    s = rng.uniform(-demand, export, (steps, n)) + 1j * rng.uniform(-0.1, 0.1, (steps, n)) * demand
    result = zbus_fixed_point(factor, v0, s / n)
    assert result.converged.all()
    assert mismatch(y, result.voltages, v_slack, s / n).max() < 1e-8
