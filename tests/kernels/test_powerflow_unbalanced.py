"""The unbalanced batch kernel: a hand-checkable case, the sequence algebra, and the CUDA
backend bit for bit against the CPU one (in numba's CUDA simulator, a fresh interpreter)."""

from __future__ import annotations

import textwrap

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from kernels.powerflow_unbalanced import A_INV, A, factorize_sequences, zbus_fixed_point_3ph


def _one_line(y_series: complex, y_shunt0: complex = 0j):
    """A slack and one node behind a series admittance in every sequence, the zero sequence
    with a shunt to earth at the node too: the non-slack blocks and the slack column."""
    ys = [y_series + y_shunt0, y_series, y_series]
    return [sparse.csc_matrix([[y]]) for y in ys]


def test_one_single_phase_load_by_hand():
    """1 kW on phase a behind z = 0.01 + 0.02j per unit in every sequence, a solidly earthed
    node (zero-sequence shunt) so the zero sequence is defined: the fixed point's answer
    satisfies the node's three sequence equations, and only phase a sags."""
    z = complex(0.01, 0.02)
    blocks = _one_line(1 / z, y_shunt0=1 / complex(0.0, 0.05))
    factors = factorize_sequences(*blocks)
    v0 = np.array([1.0 + 0j])  # the slack's voltage seen through the series branch
    s = np.zeros((1, 3, 1), dtype=complex)
    s[0, 0, 0] = -0.3  # a load of 0.3 pu on phase a
    fixed = zbus_fixed_point_3ph(factors, v0, s, tol=1e-12)
    assert fixed.converged.all()
    v012 = fixed.voltages[0, :, 0]
    v_abc = A @ v012
    i_abc = np.conj(s[0, :, 0] / v_abc)
    i012 = A_INV @ i_abc
    y = [b.toarray()[0, 0] for b in blocks]
    assert np.allclose(v012, [i012[0] / y[0], 1.0 + i012[1] / y[1], i012[2] / y[2]], atol=1e-12)
    vm = np.abs(v_abc)
    assert vm[0] < 0.999 and vm[0] < vm[1] and vm[0] < vm[2]  # the loaded phase sags most
    assert abs(v012[2]) / abs(v012[1]) > 0.001  # an unbalance appears


@settings(max_examples=30, deadline=None)
@given(st.lists(st.complex_numbers(max_magnitude=5.0, allow_nan=False, allow_infinity=False),
                min_size=3, max_size=3))
def test_sequence_transform_round_trips(values):
    x = np.array(values)
    assert np.allclose(A @ (A_INV @ x), x, atol=1e-12)
    balanced = np.array([1, A[1, 1], A[2, 1]]) * values[0]  # a, b = a^2 a, c = a a
    assert np.allclose(A_INV @ balanced, [0, values[0], 0], atol=1e-12)


def _ladder(n: int, seed: int) -> list[sparse.csc_matrix]:
    """Three sequences' non-slack blocks of a random radial feeder of ``n`` nodes."""
    rng = np.random.default_rng(seed)
    parent = [int(rng.integers(-1, k)) for k in range(n)]  # -1: hangs from the slack
    blocks = []
    for q in range(3):
        y = sparse.lil_matrix((n, n), dtype=complex)
        for k, up in enumerate(parent):
            a = 1 / complex(rng.uniform(0.01, 0.1), rng.uniform(0.01, 0.1)) * (3 if q == 0 else 1)
            y[k, k] += a
            if up >= 0:
                y[up, up] += a
                y[k, up] -= a
                y[up, k] -= a
        blocks.append(y.tocsc())
    return blocks


def test_phase_frame_impedance_is_the_sequences_inverses_in_the_phase_frame():
    """``solve_phases`` (one substitution pass per row) is ``A Z_012 A^-1 b`` with each
    ``Z_q`` the dense inverse of its block, for rows injecting at a few nodes and at all."""
    blocks = _ladder(40, seed=5)
    factors = factorize_sequences(*blocks)
    z = [np.linalg.inv(b.toarray()) for b in blocks]
    rng = np.random.default_rng(6)
    b = rng.normal(size=(3, 3, 40)) + 1j * rng.normal(size=(3, 3, 40))
    b[0, :, rng.random(40) < 0.8] = 0  # most nodes inject none
    b[1] = 0
    b012 = np.einsum("qp,tpn->tqn", A_INV, b)
    want = np.einsum("pq,tqn->tpn", A, np.stack([b012[:, q] @ z[q].T for q in range(3)], axis=1))
    np.testing.assert_allclose(factors.solve_phases(b), want, rtol=0, atol=1e-12)


CHECK = textwrap.dedent(
    """
    import numpy as np
    import scipy.sparse as sparse
    from kernels.powerflow_unbalanced import factorize_sequences, zbus_fixed_point_3ph

    rng = np.random.default_rng(0)
    n = 5
    blocks = []
    for q, earth in enumerate((1 / 0.05j, 0, 0)):
        y = np.zeros((n + 1, n + 1), dtype=complex)
        for k in range(n):
            parent = n if k == 0 else k - 1
            b = 1 / complex(0.02, 0.01) * (0.3 if q == 0 else 1.0)
            y[[k, parent], [k, parent]] += b
            y[k, parent] -= b
            y[parent, k] -= b
            y[k, k] += earth
        blocks.append(sparse.csc_matrix(y[:n, :n]))
    factors = factorize_sequences(*blocks)
    v0 = -np.linalg.solve(blocks[1].toarray(), -np.full(n, 1 / complex(0.02, 0.01)) * (
        np.arange(n) == 0))
    s = -(rng.uniform(0, 0.1, (3, 3, n)) + 0.02j)
    s[2] *= 1000  # cannot converge
    cpu = zbus_fixed_point_3ph(factors, v0, s)
    gpu = zbus_fixed_point_3ph(factors, v0, s, backend="cuda")
    assert gpu.converged.tolist() == cpu.converged.tolist() == [True, True, False]
    assert gpu.iterations == cpu.iterations
    assert np.array_equal(gpu.voltages[:2], cpu.voltages[:2])  # the same arithmetic
    warm = zbus_fixed_point_3ph(factors, v0, s[:2], v_start=cpu.voltages[:2], backend="cuda")
    assert warm.converged.all() and warm.iterations <= 2
    print("ok", gpu.iterations)
    """
)


def test_cuda_backend_matches_cpu_in_the_simulator(run_in_cuda_simulator):
    assert run_in_cuda_simulator(CHECK).startswith("ok")
