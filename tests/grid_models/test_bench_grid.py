"""Smoke test of `testbed bench grid --quick`: it runs and reports every figure (no timing)."""

from __future__ import annotations

import pytest

from testbed.benchmarks import grid


@pytest.mark.slow
def test_quick_bench_reports_ratios_and_accuracy(semiurb):
    result = grid.run(quick=True)
    assert result.benchmark == "grid"
    for short in grid.FEEDERS:
        figures = {k.removeprefix(f"{short}_"): v for k, v in result.results.items()
                   if k.startswith(f"{short}_")}  # fmt: skip
        assert figures["snapshots"] == 192
        assert figures["ours_not_converged"] == 0
        assert figures["max_vm_diff_vs_pandapower_pu"] < 1e-6
        assert figures["max_line_loading_diff_vs_pandapower_pp"] < 1e-4
        for method in grid.PGM_METHODS:  # the same problem: the peer agrees closely too
            assert figures[f"max_vm_diff_vs_pgm_{method}_pu"] < 1e-5
            assert result.ratios[f"ours_vs_pgm_{method}_{short}"] > 0
        assert result.ratios[f"ours_vs_pandapower_timeseries_{short}"] > 0
    for short in grid.UNBALANCED:  # the year unbalanced: runpp_3ph the reference, the peer close
        figures = {k.removeprefix(f"{short}_unbalanced_"): v for k, v in result.results.items()
                   if k.startswith(f"{short}_unbalanced_")}  # fmt: skip
        assert figures["snapshots"] == 192 and figures["ours_not_converged"] == 0
        assert figures["max_vm_diff_vs_runpp_3ph_pu"] < 1e-6
        assert 0 < figures["vuf_max_percent"] < 5
        for method in grid.PGM_METHODS:
            assert figures[f"max_vm_diff_vs_pgm_asym_{method}_pu"] < 1e-5
        assert result.ratios[f"ours_unbalanced_vs_power_grid_model_asym_{short}"] > 0
        assert result.ratios[f"ours_unbalanced_vs_runpp_3ph_{short}"] > 0
    assert result.results["check_trades_100_not_accepted"] > 0  # the interval exercises curtailment


def test_a_year_in_parts_agrees_with_pandapower_and_the_peer(monkeypatch, semiurb):
    """The town's year is solved in parts (the whole at once would be gigabytes): here the
    default feeder's two days in four parts, so that the parts' seams are crossed."""
    monkeypatch.setattr(grid, "TOWN_PART_STEPS", 50)
    figures, ratios = grid._town_figures(semiurb, quick=True)
    assert figures["snapshots"] == 192 and figures["ours_not_converged"] == 0
    assert figures["max_vm_diff_vs_pandapower_pu"] < 1e-6
    for method in grid.PGM_METHODS:
        assert figures[f"max_vm_diff_vs_pgm_{method}_pu"] < 1e-5
        assert ratios[f"ours_vs_pgm_{method}"] > 0
