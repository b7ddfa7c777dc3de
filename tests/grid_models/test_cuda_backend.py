"""solve_snapshots(backend="cuda") gives the CPU backend's results, in numba's CUDA simulator.

Run in a fresh interpreter: the simulator must be chosen before numba.cuda is first imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
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
    np.testing.assert_allclose(gpu.vm_pu, cpu.vm_pu, rtol=0, atol=1e-9)
    np.testing.assert_allclose(gpu.line_loading_percent, cpu.line_loading_percent, atol=1e-7)
    print("ok")
    """
)


def test_cuda_backend_matches_cpu_on_a_feeder():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHECK],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
