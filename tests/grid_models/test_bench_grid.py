"""Smoke test of `testbed bench grid --quick`: it runs and reports every figure (no timing)."""

from __future__ import annotations

from testbed.bench import grid


def test_quick_bench_reports_ratios_and_accuracy(semiurb):
    result = grid.run(quick=True)
    assert result.benchmark == "grid"
    assert result.results["snapshots"] == 192
    assert result.results["ours_not_converged"] == 0
    assert result.results["max_vm_diff_vs_pandapower_pu"] < 1e-6
    assert result.results["max_line_loading_diff_vs_pandapower_pp"] < 1e-4
    assert "ours_vs_pandapower_timeseries" in result.ratios
    assert all(r > 0 for r in result.ratios.values())
    assert result.results["check_trades_100_not_accepted"] > 0  # the interval exercises curtailment
