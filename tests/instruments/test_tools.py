"""`testbed instruments scan` / `check` against the emulator, and the latency benchmark."""

from __future__ import annotations

import pytest

from instruments.emulator import Emulator
from instruments.errors import ProfileError
from instruments.tools import check, scan
from testbed.benchmarks import instruments as latency_bench

from .conftest import toml_bench


def test_scan_lists_resources_with_idn(emu: Emulator, capsys) -> None:
    ports = sorted(emu.ports.values())
    assert scan(ports=ports) == 0
    out = capsys.readouterr().out
    for resource in emu.resources.values():
        assert resource in out
    assert "TESTBED,PVINV-5K,EMU0001,1.0" in out
    assert "TESTBED,SUNSPEC-PV-INVERTER,EMU-pv2,1.0  SunSpec models 1,101" in out


def test_scan_without_instruments_says_so(capsys) -> None:
    with Emulator() as emu:
        port = emu.ports["pv1"]
    assert scan(ports=[port]) == 1
    assert "no instruments answered" in capsys.readouterr().out


def test_check_passes_on_a_matching_bench(emu: Emulator, tmp_path, capsys) -> None:
    bench = tmp_path / "bench.toml"
    bench.write_text(toml_bench(emu.bench_config()))
    assert check(bench) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["grid1", "ok"],
        ["pv1", "ok"],
        ["load1", "ok"],
        ["meter1", "ok"],
        ["pv2", "ok"],
    ]
    assert "read_voltage = 2" in lines[0]
    assert "models 1,101,120,121,123,701,702,703,704,705,706" in lines[4]
    assert "export limit 0..3 kW" in lines[4]
    assert emu.devices["load1"].enabled  # read-only: nothing was switched off


def test_check_fails_on_a_dead_device(emu: Emulator, tmp_path, capsys) -> None:
    config = emu.bench_config()
    with Emulator() as gone:
        config["device"][3]["resource"] = gone.resources["meter1"]
    bench = tmp_path / "bench.toml"
    bench.write_text(toml_bench(config))
    assert check(bench) == 1
    out = capsys.readouterr().out
    assert "meter1  FAIL" in out
    assert "grid1  ok" in out


def test_check_names_a_device_whose_profile_is_wrong(emu: Emulator, tmp_path, capsys) -> None:
    config = emu.bench_config()
    config["device"][2]["resource"] = emu.resources["meter1"]  # load1 entry points at the meter
    with Emulator() as gone:
        config["device"][3]["resource"] = gone.resources["meter1"]
    bench = tmp_path / "bench.toml"
    bench.write_text(toml_bench(config))
    assert check(bench) == 2
    out = capsys.readouterr().out
    assert "load1  WRONG PROFILE  load1 at" in out
    assert "identifies as 'TESTBED,METER-1P" in out
    assert "meter1  FAIL" in out


def test_check_of_a_malformed_bench_file_is_one_error(tmp_path) -> None:
    bench = tmp_path / "bench.toml"
    bench.write_text(
        "[[device]]\nname = 'x'\nrole = 'inverter'\nresource = 'r'\nprofile = 'nope'\n"
    )
    with pytest.raises(ProfileError, match="unknown profile 'nope'"):
        check(bench)


def test_latency_benchmark_reports_both_figures() -> None:
    result = latency_bench.run(quick=True)
    assert set(result.results) == {
        "driver_write_query_median_ms",
        "naive_write_query_median_ms",
        "sunspec_write_read_median_ms",
        "naive_pysunspec2_scan_write_read_median_ms",
    }
    assert all(v > 0 for v in result.results.values())
    assert set(result.ratios) == {"driver_vs_naive", "sunspec_vs_naive_pysunspec2"}
