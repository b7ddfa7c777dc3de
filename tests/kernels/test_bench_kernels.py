"""`testbed bench kernels` in quick mode: every figure and ratio present and positive, what
auto chose for each function, and the CPU in the machine field."""

from __future__ import annotations

import json

import kernels
from kernels import cache_folder, calibration
from testbed.benchmarks import kernels as bench
from testbed.benchmarks import render


def test_quick_run_reports_every_ratio_and_the_auto_choices(monkeypatch, tmp_path):
    monkeypatch.setenv(cache_folder.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(kernels, "_auto_choices", {})
    result = bench.run(quick=True)
    assert result.benchmark == "kernels"
    for name in (
        "ed25519_cpu_vs_reference",
        "ed25519_cpu_vs_reference_41_keys",
        "ed25519_sign_cpu_vs_reference",
        "ed25519_sign_cpu_vs_reference_batch_500",
        "sha256_cpu_vs_hashlib_loop",
        "merkle_cpu_vs_hashlib_loop",
        *(f"{function}_auto_vs_reference" for function in calibration.WORKLOADS),
    ):
        assert result.ratios[name] > 0
    assert all(v > 0 for v in result.results.values())
    saved = json.loads(calibration.cache_path().read_text())["choices"]
    assert result.auto_backends == {f: entry["backend"] for f, entry in saved.items()}
    assert set(result.auto_backends) == set(calibration.WORKLOADS)

    out = json.loads(render(result, as_json=True))
    assert out["auto_backends"] == result.auto_backends
    assert out["machine"]["cpu_model"] and out["machine"]["llvm_cpu"]
    assert set(out["machine"]["cpu_flags"]) == {"sha_ni", "avx2", "avx512f"}
    assert "auto backends: sha256_batch" in render(result, as_json=False)
