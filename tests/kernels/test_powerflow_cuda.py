"""The CUDA backend agrees with the CPU one, run in numba's CUDA simulator (no GPU needed).

The simulator must be chosen before numba.cuda is first imported, so the check runs in a fresh
interpreter with NUMBA_ENABLE_CUDASIM=1.
"""

from __future__ import annotations

import textwrap

CHECK = textwrap.dedent(
    """
    import numpy as np
    from kernels.powerflow import zbus_fixed_point

    rng = np.random.default_rng(0)
    n = 5
    y = np.zeros((n + 1, n + 1), dtype=complex)
    for k in range(n):
        parent = n if k == 0 else k - 1
        b = 1 / complex(0.02, 0.01)
        y[[k, parent], [k, parent]] += b
        y[k, parent] -= b
        y[parent, k] -= b
    z = np.linalg.inv(y[:n, :n])
    v0 = -z @ y[:n, n] * 1.0
    s = -(rng.uniform(0, 0.1, (3, n)) + 0.02j)
    s[2] *= 1000  # cannot converge
    cpu = zbus_fixed_point(z, v0, s)
    gpu = zbus_fixed_point(z, v0, s, backend="cuda")
    assert gpu.converged.tolist() == cpu.converged.tolist() == [True, True, False], gpu.converged
    assert np.abs(gpu.voltages[:2] - cpu.voltages[:2]).max() < 1e-12
    assert np.abs(gpu.currents[:2] - cpu.currents[:2]).max() < 1e-12
    print("ok", gpu.iterations)
    """
)


def test_cuda_backend_matches_cpu_in_the_simulator(run_in_cuda_simulator):
    assert run_in_cuda_simulator(CHECK).startswith("ok")
