"""solve_snapshots(backend="cuda") gives the CPU backend's results, in numba's CUDA simulator,
balanced and unbalanced.

Run in a fresh interpreter: the simulator must be chosen before numba.cuda is first imported.
"""

from __future__ import annotations

import textwrap

CHECK = textwrap.dedent(
    """
    import numpy as np
    from grid_models import load_feeder, solve_snapshots

    feeder = load_feeder("kerber_landnetz_kabel_1")
    nominal = feeder.net.load["p_mw"].to_numpy()
    load_p = np.vstack([nominal, 3 * nominal])  # non-convergence: see tests/kernels
    none = np.zeros((2, 0))
    cpu = solve_snapshots(feeder, load_p, 0.3 * load_p, none, none)
    gpu = solve_snapshots(feeder, load_p, 0.3 * load_p, none, none, backend="cuda")
    assert gpu.converged.tolist() == cpu.converged.tolist() == [True, True]
    assert np.array_equal(gpu.vm_pu, cpu.vm_pu)  # the same arithmetic, bit for bit
    assert np.array_equal(gpu.line_loading_percent, cpu.line_loading_percent)
    unbalanced = feeder.with_phases((["a", "b", "c", "abc"] * len(nominal))[:len(nominal)])
    cpu = solve_snapshots(unbalanced, load_p, 0.3 * load_p, none, none)
    gpu = solve_snapshots(unbalanced, load_p, 0.3 * load_p, none, none, backend="cuda")
    assert gpu.converged.tolist() == cpu.converged.tolist() == [True, True]
    assert np.array_equal(gpu.vm_pu, cpu.vm_pu) and np.array_equal(gpu.vuf_percent,
                                                                   cpu.vuf_percent)
    print("ok")
    """
)


def test_cuda_backend_matches_cpu_on_a_feeder(run_in_cuda_simulator):
    assert run_in_cuda_simulator(CHECK).strip().endswith("ok")
