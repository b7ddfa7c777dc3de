"""docs/benchmarks.md from benchmark results: the `--json` objects, rendered without measuring.

Measuring and rendering are separate so a page can be rebuilt from saved results
(`testbed bench all --save DIR`, then `testbed bench-markdown DIR/*.json`), and so every table
carries the stamp of the run that produced it: date, commit, machine and its load.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from testbed.benchmarks import number
from testbed.errors import InputError

HEADER = """# Benchmarks

What you do with this page: read the current figure of each benchmark, with the machine,
commit and date it was measured on, and quote it from here. It is written by a command, not by
hand: `testbed bench all --markdown > docs/benchmarks.md` measures every benchmark and renders
this page; `testbed bench all --save DIR` keeps each result as `DIR/NAME.json` and `testbed
bench-markdown DIR/*.json > docs/benchmarks.md` renders them again. Ratios are named
`<ours>_vs_<baseline>`; above 1, ours is faster. Read the ratios rather than the seconds: the
development machine is shared, and each stamp gives its load average.
"""

FLAG_LABELS = {"sha_ni": "SHA-NI", "avx2": "AVX2", "avx512f": "AVX-512"}


def load_results(paths: Iterable[Path]) -> list[dict]:
    """The results in files holding one JSON object each, or one per line (`--json` of
    `bench all`)."""
    results = []
    for path in paths:
        try:
            results += _objects(path.read_text())
        except (OSError, ValueError) as error:
            raise InputError(f"{path}: not a benchmark result ({error})") from error
    for result in results:
        if not isinstance(result, dict) or not {"benchmark", "machine", "results",
                                                "ratios"} <= set(result):
            raise InputError("a benchmark result needs benchmark, machine, results and ratios")
    return results


def _objects(text: str) -> list:
    """The JSON values in ``text``, one after another (an indented object, or one a line)."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while (at := len(text) - len(text[at:].lstrip())) < len(text):
        value, at = decoder.raw_decode(text, at)
        values.append(value)
    return values


def page(results: Iterable[Mapping]) -> str:
    """The whole page: the header, then a section per benchmark in name order."""
    sections = [section(r) for r in sorted(results, key=lambda r: r["benchmark"])]
    return "\n".join([HEADER, *sections])


def section(result: Mapping) -> str:
    """One benchmark: its stamp, its ratios, its measured figures and its notes."""
    lines = [f"## {result['benchmark']}", "", stamp(result), ""]
    if result["ratios"]:
        lines += ["| ratio (above 1: ours is faster) | |", "|---|---|"]
        lines += [f"| `{k}` | {v:.2f} |" for k, v in result["ratios"].items()]
        lines.append("")
    if result["results"]:
        lines += ["| measured | |", "|---|---|"]
        lines += [f"| `{k}` | {number(v)} |" for k, v in result["results"].items()]
        lines.append("")
    if auto := result.get("auto_backends"):
        lines += ["`auto` chose: " + ", ".join(f"`{f}` {b}" for f, b in auto.items()) + ".", ""]
    lines += [f"- {note}" for note in result.get("notes", [])]
    return "\n".join(lines).rstrip() + "\n"


def stamp(result: Mapping) -> str:
    """Date, commit, inputs and machine of a result, in one paragraph."""
    machine = result["machine"]
    when = result.get("measured", {})
    flags = machine.get("cpu_flags", {})
    has = ", ".join(f"{label} {'yes' if flags[f] else 'no'}" for f, label in FLAG_LABELS.items()
                    if f in flags)
    load = machine.get("load_average")
    parts = [
        f"Measured {when.get('date_utc', 'at an unknown date')} UTC"
        f" from commit `{when.get('commit', 'unknown')}`"
        f" with {'quick (`--quick`)' if when.get('quick') else 'full'} inputs"
        f" on {machine.get('cpu_model', 'an unknown CPU')}"
        + (f" (LLVM `{machine['llvm_cpu']}`)" if machine.get("llvm_cpu") else "")
        + f", {machine.get('cpus', '?')} cores" + (f", {has}" if has else ""),
        f"Python {machine.get('python', '?')}",
    ]
    if load:
        parts.append("load average " + " / ".join(f"{x:.1f}" for x in load)
                     + " (1, 5, 15 min) at the end")
    return "; ".join(parts) + "."
