"""`testbed sweep` as a user sees it: a progress bar, a line for each failed cell, and at the
end a table of the sweep's figures (cells, wall time against the sum of the cells' times)."""

from __future__ import annotations

from pathlib import Path

from testbed.errors import InputError, Interrupted
from testbed.interrupts import signal_name
from testbed.sweep.cell import CellResult
from testbed.sweep.runner import CELLS_DIR, Outcome, Plan, plan, run
from testbed.sweep.spec import example_text, load_sweep

SWEEPS_DIR = Path("sweeps")


def main(spec: Path | None, *, scheduler: str | None, out: Path | None, workers: int | None,
         example: bool) -> int:
    """Exit code: 0 when every cell ran, 1 when one failed or broke an invariant. Interrupted
    (Ctrl-C, SIGTERM), it raises `Interrupted` once what finished is written: a re-run goes
    on from there."""
    if example:
        print(example_text(), end="")
        return 0
    if spec is None:
        raise InputError("give a sweep spec (testbed sweep --example prints one to start from)")
    if scheduler and workers:
        raise InputError("--workers sizes the local cluster; with --scheduler the cluster's "
                         "workers are its own")
    try:
        sweep = load_sweep(spec)
        out = out or SWEEPS_DIR / sweep.name
        return _sweep(plan(sweep, out), scheduler, workers)
    except KeyboardInterrupt as exc:
        kept = f"finished cells are in {out}; run again to go on" if out else "nothing ran"
        raise Interrupted(f"interrupted by {signal_name(exc)}: {kept}", signal_name(exc)
                          ) from None


def _sweep(todo: Plan, scheduler: str | None, workers: int | None) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = Console()
    cells = len(todo.spec.cells)
    if todo.done:
        console.print(f"{len(todo.done)} of {cells} cells done earlier: skipped")
    columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"sweep {todo.spec.name}", total=len(todo.todo))

        def on_result(result: CellResult) -> None:
            if result.error is not None:
                bar.console.print(f"[red]cell {result.cell} failed:[/] {escape(result.error)}",
                                  highlight=False, soft_wrap=True)
            bar.advance(task)

        outcome = run(todo, scheduler=scheduler, workers=workers, on_result=on_result)
    _print(console, outcome, todo.out)
    _compare(console, outcome)
    broken = [r.cell for r in outcome.results if r.summary and (
        r.summary.get("ledger_valid") is False or r.summary.get("money_conservation_error"))]
    if broken:
        console.print(f"[red]{len(broken)} cell(s) with an invalid ledger or unconserved "
                      f"money:[/] {', '.join(broken)}")
    return 1 if outcome.figures.failed or broken else 0


COMPARED = ("mechanism", "strategy", "grid_fee")
"""The market's axes: when a sweep varies one, its cells are compared side by side."""
FIGURES = (("energy_traded_kwh", "Traded (kWh)"), ("price_mean", "Price mean"),
           ("grid_fees_total", "Grid fees"), ("bills_total", "Bills"),
           ("baseline_bills_total", "Bills without the market"),
           ("homes_better_off", "Homes better off"))


def _compare(console, outcome: Outcome) -> None:
    """A row per cell with the market's axes and key figures, when the sweep varies one of
    those axes."""
    from rich.table import Table

    done = [r for r in outcome.results if r.summary]
    varied = [a for a in COMPARED if len({str(r.parameters.get(a)) for r in done}) > 1]
    if not varied:
        return
    others = [k for k in (done[0].parameters if done else {})
              if k not in COMPARED and len({str(r.parameters[k]) for r in done}) > 1]
    table = Table(title="market designs side by side")
    for name in (*others, *COMPARED):
        table.add_column(name)
    for _, label in FIGURES:
        table.add_column(label, justify="right")
    for r in sorted(done, key=lambda r: [str(r.parameters[k]) for k in (*others, *COMPARED)]):
        table.add_row(*(str(r.parameters[k]) for k in (*others, *COMPARED)),
                      *(_figure(r.summary.get(key)) for key, _ in FIGURES))
    console.print(table)


def _figure(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def _print(console, outcome: Outcome, out: Path) -> None:
    from rich.table import Table

    f = outcome.figures
    table = Table(title=f"sweep {f.name} ({f.cluster})", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    speedup = f"{f.speedup:.2f}x" if f.speedup is not None else "-"
    for label, value in (
        ("Cells", f"{f.cells}"),
        ("Run now", f"{f.ran}"),
        ("Done earlier (skipped)", f"{f.skipped}"),
        ("Failed", f"{f.failed}"),
        ("Sweep wall time (s)", f"{f.wall_s:.1f}"),
        ("Sum of cells' wall times (s)", f"{f.cells_wall_s:.1f}"),
        ("Speed-up (sum / wall)", speedup),
    ):
        table.add_row(label, value)
    console.print(table)
    console.print(f"table: {outcome.table}")
    for path in outcome.plots:
        console.print(f"plot: {path}")
    console.print(f"cells: {out / CELLS_DIR}")
