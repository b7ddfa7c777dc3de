"""docs/benchmarks.md from saved results: every table stamped with its date, commit and machine,
and `testbed bench all` running every benchmark module once (the benchmarks themselves faked:
their own tests run them)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from testbed.benchmarks import BenchResult, _markdown, names, to_json
from testbed.cli import app
from testbed.errors import InputError

KERNELS = {
    "benchmark": "kernels",
    "machine": {"cpu_model": "AMD EPYC 7B13", "llvm_cpu": "znver3", "cpus": 2,
                "cpu_flags": {"sha_ni": True, "avx2": True, "avx512f": False},
                "python": "3.11.2", "load_average": [3.14, 2.5, 2.0]},
    "measured": {"date_utc": "2026-12-07 07:40", "commit": "3977d7573c", "quick": True},
    "results": {"sha256_cpu_s": 0.0123, "ed25519_signatures": 20000},
    "ratios": {"sha256_cpu_vs_hashlib_loop": 3.504},
    "auto_backends": {"sha256_batch": "cpu"},
    "notes": ["SHA-256 of 2^20 64-byte messages"],
}


def test_a_result_becomes_a_section_stamped_with_date_commit_and_machine():
    text = _markdown.page([KERNELS])
    assert text.startswith("# Benchmarks\n")
    section = text[text.index("## kernels"):]
    assert ("Measured 2026-12-07 07:40 UTC from commit `3977d7573c` with quick (`--quick`) "
            "inputs on AMD EPYC 7B13 (LLVM `znver3`), 2 cores, SHA-NI yes, AVX2 yes, AVX-512 no; "
            "Python 3.11.2; load average 3.1 / 2.5 / 2.0 (1, 5, 15 min) at the end.") in section
    assert "| `sha256_cpu_vs_hashlib_loop` | 3.50 |" in section
    assert "| `sha256_cpu_s` | 0.0123 |" in section and "| `ed25519_signatures` | 20,000 |" in section
    assert "`auto` chose: `sha256_batch` cpu." in section
    assert "- SHA-256 of 2^20 64-byte messages" in section


def test_sections_in_name_order_whatever_order_they_come_in():
    ledger = {**KERNELS, "benchmark": "ledger", "auto_backends": {}, "notes": []}
    text = _markdown.page([ledger, KERNELS])
    assert text.index("## kernels") < text.index("## ledger")


def test_saved_results_load_as_one_object_or_one_per_line(tmp_path):
    one = tmp_path / "kernels.json"
    one.write_text(json.dumps(KERNELS, indent=1))
    lines = tmp_path / "all.jsonl"
    lines.write_text("\n".join(json.dumps({**KERNELS, "benchmark": b}) for b in ("a", "b")))
    loaded = _markdown.load_results([one, lines])
    assert [r["benchmark"] for r in loaded] == ["kernels", "a", "b"]
    (bad := tmp_path / "bad.json").write_text('{"benchmark": "x"}')
    with pytest.raises(InputError, match="needs benchmark, machine, results and ratios"):
        _markdown.load_results([bad])


def test_the_json_of_a_result_carries_its_stamp():
    content = to_json(BenchResult("ledger", {"x_s": 1.0}, {"a_vs_b": 2.0}), quick=True)
    assert content["measured"]["quick"] is True and content["measured"]["date_utc"]
    assert content["measured"]["commit"]  # a short hash here; "unknown" outside a checkout
    assert len(content["machine"]["load_average"]) == 3
    assert "## ledger" in _markdown.page([content])


def test_bench_all_runs_every_benchmark_once_and_saves_each(monkeypatch, tmp_path):
    ran = []

    def fake(name):
        def run(quick: bool = False) -> BenchResult:
            ran.append((name, quick))
            return BenchResult(name, {"seconds": 1.0}, {f"{name}_vs_baseline": 2.0})
        return run

    for name in names():
        module = __import__(f"testbed.benchmarks.{name}", fromlist=["run"])
        monkeypatch.setattr(module, "run", fake(name))
    out = tmp_path / "results"
    result = CliRunner().invoke(app, ["bench", "all", "--quick", "--markdown", "--save",
                                      str(out)])
    assert result.exit_code == 0, result.output
    assert ran == [(name, True) for name in names()]
    assert sorted(p.stem for p in out.glob("*.json")) == names()
    page = result.stdout
    assert [line[3:] for line in page.splitlines() if line.startswith("## ")] == names()
    again = CliRunner().invoke(app, ["bench-markdown", *map(str, sorted(out.glob("*.json")))])
    assert again.exit_code == 0 and again.stdout == page


def test_the_benchmarks_are_the_package_modules_and_not_the_renderer():
    assert {"grid", "instruments", "kernels", "ledger", "network", "privacy", "town",
            "year"} <= set(names())
    assert "_markdown" not in names()
