"""`testbed bench kernels` in quick mode: every figure and ratio present and positive."""

from __future__ import annotations

from testbed.bench import kernels as bench


def test_quick_run_reports_both_ratios():
    result = bench.run(quick=True)
    assert result.benchmark == "kernels"
    for name in (
        "ed25519_cpu_vs_reference",
        "ed25519_cpu_vs_reference_41_keys",
        "ed25519_sign_cpu_vs_reference",
        "ed25519_sign_cpu_vs_reference_batch_500",
        "sha256_cpu_vs_hashlib_loop",
        "merkle_cpu_vs_hashlib_loop",
    ):
        assert result.ratios[name] > 0
    assert all(v > 0 for v in result.results.values())
