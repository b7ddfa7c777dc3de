"""The CUDA backend agrees with the CPU one, run in numba's CUDA simulator (no GPU needed).

The simulator must be chosen before numba.cuda is first imported, so the check runs in a fresh
interpreter with NUMBA_ENABLE_CUDASIM=1.
"""

from __future__ import annotations

import textwrap

CHECK = textwrap.dedent(
    """
    import numpy as np
    import scipy.sparse as sparse
    from kernels.powerflow import PVNodes, factorize, zbus_fixed_point

    rng = np.random.default_rng(0)
    n = 5
    y = np.zeros((n + 1, n + 1), dtype=complex)
    for k in range(n):
        parent = n if k == 0 else k - 1
        b = 1 / complex(0.02, 0.01)
        y[[k, parent], [k, parent]] += b
        y[k, parent] -= b
        y[parent, k] -= b
    factor = factorize(sparse.csc_matrix(y[:n, :n]))
    v0 = -np.linalg.solve(y[:n, :n], y[:n, n] * 1.0)
    s = -(rng.uniform(0, 0.1, (3, n)) + 0.02j)
    s[2] *= 1000  # cannot converge
    pv = PVNodes.of(factor, np.array([2]), np.array([1.0]))
    for nodes in (PVNodes.of(factor, np.array([], dtype=int), np.array([])), pv):
        cpu = zbus_fixed_point(factor, v0, s, pv=nodes)
        gpu = zbus_fixed_point(factor, v0, s, pv=nodes, backend="cuda")
        assert gpu.converged.tolist() == cpu.converged.tolist() == [True, True, False]
        assert gpu.iterations == cpu.iterations
        assert np.array_equal(gpu.voltages[:2], cpu.voltages[:2])  # the same arithmetic
        assert np.array_equal(gpu.pv_q[:2], cpu.pv_q[:2])
    solved = s[:2].copy()  # a warm start: the solution's voltages and PV reactive powers
    solved[:, 2] = solved[:, 2].real + 1j * cpu.pv_q[:2, 0]
    start = cpu.voltages[:2]
    warm = zbus_fixed_point(factor, v0, solved, pv=pv, v_start=start, backend="cuda")
    assert warm.converged.all() and warm.iterations <= 2
    print("ok", gpu.iterations)
    """
)


def test_cuda_backend_matches_cpu_in_the_simulator(run_in_cuda_simulator):
    assert run_in_cuda_simulator(CHECK).startswith("ok")
