"""The `testbed` command line: one entry point, each command a thin call into its module."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from testbed.benchmarks import names as bench_names

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False
)
ledger_app = typer.Typer(no_args_is_help=True, help="Create and fill ledgers.")
instruments_app = typer.Typer(no_args_is_help=True,
                              help="Find and check instruments (SCPI over VISA, SunSpec).")
network_app = typer.Typer(no_args_is_help=True, help="A local network of validator nodes.")
app.add_typer(ledger_app, name="ledger")
app.add_typer(instruments_app, name="instruments")
app.add_typer(network_app, name="network")
agent_app = typer.Typer(no_args_is_help=True, help="A home's own trading agent.")
app.add_typer(agent_app, name="agent")


@app.command()
def verify(
    ledger: Path,
    head: str | None = typer.Option(
        None, "--head", help="The last block's hash (a run's summary.json head_hash): a ledger "
        "cut short or extended is invalid."),
    view_key: list[Path] = typer.Option(
        [], "--view-key", help="A view key file (a run's auditor.view; the validators'): opens "
        "a private market's sealed records so the contract is re-executed (repeatable)."),
) -> None:
    """Re-validate a ledger from genesis: links, Merkle roots, signatures, certificates,
    nonces, the contract and every state root; a private market's contract and state roots
    only with --view-key, and without one the line says what was not checked.
    Reads only: the file and its folder stay byte for byte as they were."""
    from testbed.ledger.keys import ViewKey, passphrase
    from testbed.market.verify import verify_ledger

    keys = [ViewKey.load(p, passphrase(development=True)) for p in view_key]
    report = verify_ledger(ledger, keys)
    if head is not None:
        report = report.expecting_head(head)
    typer.echo(report.line())
    raise typer.Exit(0 if report.ok else 1)


@ledger_app.command("init")
def ledger_init(
    path: Path,
    validator_key: list[Path] = typer.Option(
        [], "--validator-key", help="Validator key file (repeat); fresh dev keys when none."
    ),
    chain_id: int | None = typer.Option(None, help="Chain id (default: the project's)."),
) -> None:
    """Create a chain with its genesis block."""
    from testbed.demo import init_chain
    from testbed.market.contract import MarketContract

    typer.echo(init_chain(path, validator_key, chain_id, MarketContract()))


@ledger_app.command("demo")
def ledger_demo(
    path: Path,
    blocks: int = typer.Option(10, min=1),
    tx: int = typer.Option(100, min=1, help="Signed orders per block."),
) -> None:
    """Fill a new chain with N blocks of M signed orders among development participants."""
    from testbed.demo import demo_chain
    from testbed.market.contract import MarketContract

    typer.echo(demo_chain(path, blocks, tx, MarketContract()))


DAYS_BENCHES = ("year", "town")  # the benchmarks that simulate days


@app.command()
def bench(
    name: str = typer.Argument(..., help="all, or one of: " + ", ".join(bench_names())),
    json: bool = typer.Option(False, "--json", help="One JSON object instead of a table (one "
                              "line per benchmark)."),
    quick: bool = typer.Option(False, "--quick", help="Smaller inputs, for a smoke test."),
    days: float | None = typer.Option(None, help="bench year, bench town: simulate this many "
                                      "days."),
    start: str | None = typer.Option(None, help="bench town: from this time of the default "
                                     "day (HH:MM; 12:00 is a sunny noon)."),
    markdown: bool = typer.Option(False, "--markdown", help="The page docs/benchmarks.md: "
                                  "each result stamped with its date, commit and machine."),
    save: Path | None = typer.Option(None, "--save", help="Also keep each result as "
                                     "DIR/NAME.json, as it finishes (see bench-markdown)."),
) -> None:
    """Measure ours beside a named baseline, side by side in one run; `all` runs every one."""
    import json as json_text
    import time

    from testbed.benchmarks import render, to_json
    from testbed.benchmarks._markdown import page
    from testbed.errors import InputError

    known = bench_names()
    if name != "all" and name not in known:
        raise typer.BadParameter(f"unknown benchmark {name!r}; one of: all, {', '.join(known)}")
    if json and markdown:
        raise InputError("--json and --markdown: choose one")
    if days is not None and name not in DAYS_BENCHES:
        raise InputError(f"--days: only for testbed bench {' and '.join(DAYS_BENCHES)}")
    if start is not None and name != "town":
        raise InputError("--start: only for testbed bench town")
    options = ({} if days is None else {"days": days}) | ({} if start is None else {"start": start})
    results = []
    for each in known if name == "all" else [name]:
        began = time.perf_counter()
        result = importlib.import_module(f"testbed.benchmarks.{each}").run(quick=quick, **options)
        content = to_json(result, quick)
        results.append(content)
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)
            (save / f"{each}.json").write_text(json_text.dumps(content, sort_keys=True, indent=1)
                                               + "\n")
        if name == "all":
            typer.echo(f"bench {each}: {time.perf_counter() - began:.0f} s", err=True)
        if json:
            typer.echo(json_text.dumps(content, sort_keys=True))
        elif not markdown:
            typer.echo(render(result, as_json=False) + ("\n" if name == "all" else ""))
    if markdown:
        typer.echo(page(results), nl=False)


@app.command("bench-markdown")
def bench_markdown(
    files: list[Path] = typer.Argument(..., help="Results of testbed bench --json or --save."),
) -> None:
    """Render saved benchmark results as the page docs/benchmarks.md, measuring nothing."""
    from testbed.benchmarks._markdown import load_results, page

    typer.echo(page(load_results(files)), nl=False)


@app.command()
def study(
    grid: str = typer.Argument(..., help="SimBench code, pandapower built-in or JSON file"),
    days: int | None = typer.Option(None, min=1, help="Days from the profiles' start."),
    out: Path | None = typer.Option(None, help="Folder for the CSV/Parquet results."),
    phases: str = typer.Option("balanced", help="balanced, or unbalanced: each load on a "
                               "phase drawn by --seed, checked per phase and for unbalance."),
    seed: int = typer.Option(0, min=0, help="Seed of the loads' phases (unbalanced)."),
) -> None:
    """Run a feeder's yearly profiles through the batch power flow and report violations."""
    from grid_models.study import main as study_main

    raise typer.Exit(study_main(grid, days, out, phases, seed))


_DEV_KEYS = typer.Option(
    False, "--dev-keys", help="Sign with the public development keys (reproducible ledger "
    "bytes; anyone can re-sign them). Default: keys generated for the run, never written.")
_KEYS = typer.Option(
    None, "--keys", help="Folder of key files to sign with (created where missing), encrypted "
    "under TESTBED_PASSPHRASE or a prompt.")
_DASHBOARD = typer.Option(
    None, "--dashboard", is_flag=False, flag_value="8050", min=0, max=65535, metavar="[PORT]",
    help="Serve the live page on this port (default 8050; 0: any free port).")
_DASHBOARD_HOST = typer.Option(
    None, help="Listen on this address instead of 127.0.0.1; every request then needs the "
    "token printed with the URL (or TESTBED_DASHBOARD_TOKEN).")


NETWORK_OPTION = typer.Option(
    None, help="The ledger on a local validator network in this folder (created and started "
               "if needed, stopped after if the run started it).")


class LedgerKind(str, Enum):
    embedded = "embedded"


LEDGER_OPTION = typer.Option(
    None, help="embedded: the ledger in this process, whatever the scenario says.")


@dataclass(frozen=True)
class RunOptions:
    """What `testbed run` and `testbed simulate` take: `paced` says which of the two."""

    paced: bool
    scenario: str | None = None
    out: Path | None = None
    days: float | None = None
    control_step: float | None = None
    rtf: float | None = None
    dev_keys: bool = False
    keys: Path | None = None
    dashboard: int | None = None
    dashboard_host: str | None = None
    network: Path | None = None
    ledger: LedgerKind | None = None


def _run(o: RunOptions) -> None:
    import os
    from dataclasses import replace
    from datetime import datetime
    from importlib import import_module

    from testbed.errors import InputError, Interrupted
    from testbed.interrupts import interruptible, signal_name

    if o.dev_keys and o.keys is not None:  # options first: a mistake costs no imports
        raise InputError("--dev-keys and --keys: choose one")
    if o.dashboard_host is not None and o.dashboard is None:
        raise InputError("--dashboard-host needs --dashboard")
    try:  # until the run starts, an interrupt has nothing to undo
        # the run's imports in a worker thread: a signal landing in a C extension's import
        # (pandas', pandapower's, Numba's) can break it and abort the process
        interruptible(import_module, "testbed.run")
        from rich.progress import Progress

        from testbed.records.summary import print_summary
        from testbed.run import run_scenario
        from testbed.run.keys import RunKeys
        from testbed.scenario import load_scenario

        s = load_scenario(o.scenario, days=o.days, control_step_s=o.control_step,
                          real_time_factor=o.rtf,
                          network=None if o.network is None else str(o.network))
    except KeyboardInterrupt as exc:
        raise Interrupted(f"interrupted by {signal_name(exc)} before the run started: nothing "
                          "was written", signal_name(exc)) from None
    if o.ledger is LedgerKind.embedded:
        s = replace(s, ledger=replace(s.ledger, network=None))
    out = o.out or Path("runs") / f"{s.name}-{datetime.now():%Y%m%d-%H%M%S}"
    keys = RunKeys.generate
    if o.dev_keys:
        keys = RunKeys.development
    elif o.keys is not None:
        keys = RunKeys.in_folder(o.keys)
    dashboard = None
    if o.dashboard is not None:
        from testbed.dashboard import Dashboard

        dashboard = Dashboard(o.dashboard, o.dashboard_host,
                              os.environ.get("TESTBED_DASHBOARD_TOKEN") or None)
        typer.echo(f"dashboard: {dashboard.url}", err=True)
    try:
        with Progress(transient=True) as bar:
            task = bar.add_task("paced run" if o.paced else "simulating", total=s.intervals)
            summary = run_scenario(s, out, o.paced, lambda k: bar.update(task, completed=k),
                                   keys=keys, watch=dashboard.attach if dashboard else None)
        if dashboard is not None:
            dashboard.finished(summary)
    finally:
        if dashboard is not None:
            dashboard.close()
    print_summary(summary, out)
    if not summary["ledger_valid"] or summary["money_conservation_error"] != 0:
        raise typer.Exit(1)


#: The options of `run` and `simulate`, declared once: (name, type, declaration); `days` is
#: declared by each command (its help says run or simulate), the pacing options by `run` alone.
_SCENARIO_OPTIONS: list[tuple[str, object, object]] = [
    ("scenario", str | None, typer.Argument(None, help="Scenario TOML (default: built in).")),
    ("out", Path | None, typer.Option(None, help="Run folder (default: runs/NAME-TIME).")),
]
_PACING_OPTIONS: list[tuple[str, object, object]] = [
    ("control_step", float | None, typer.Option(None, help="Seconds per step.")),
    ("rtf", float | None, typer.Option(None, help="Real-time factor.")),
]
_KEY_AND_LEDGER_OPTIONS: list[tuple[str, object, object]] = [
    ("dev_keys", bool, _DEV_KEYS),
    ("keys", Path | None, _KEYS),
    ("dashboard", int | None, _DASHBOARD),
    ("dashboard_host", str | None, _DASHBOARD_HOST),
    ("network", Path | None, NETWORK_OPTION),
    ("ledger", LedgerKind | None, LEDGER_OPTION),
]


def _scenario_command(paced: bool, days_help: str, doc: str) -> Callable[..., None]:
    """The `run` or `simulate` command: the options above, given to `_run` as `RunOptions`
    (Typer reads a command's options from its signature, so the signature is built here)."""
    options = [*_SCENARIO_OPTIONS, ("days", float | None, typer.Option(None, help=days_help)),
               *(_PACING_OPTIONS if paced else []), *_KEY_AND_LEDGER_OPTIONS]

    def command(**given: Any) -> None:
        _run(RunOptions(paced=paced, **given))

    command.__doc__ = doc
    command.__annotations__ = {name: kind for name, kind, _ in options} | {"return": None}
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=declared,
                           annotation=kind) for name, kind, declared in options],
        return_annotation=None)
    return command


run = app.command("run")(_scenario_command(
    True, "Run this many days.",
    "Run a scenario paced in real time against the bench (or its emulation)."))
simulate = app.command("simulate")(_scenario_command(
    False, "Simulate this many days.",
    "Run a scenario as fast as possible, with simulated instruments."))


@app.command()
def sweep(
    spec: Path | None = typer.Argument(None, help="Sweep spec (TOML); see --example."),
    scheduler: str | None = typer.Option(
        None, help="Dask scheduler address (default: a local cluster of processes)."),
    out: Path | None = typer.Option(None, help="Sweep folder (default: sweeps/NAME)."),
    workers: int | None = typer.Option(None, min=1, help="Local cluster size (default: cores)."),
    example: bool = typer.Option(False, "--example", help="Print a small spec to start from."),
) -> None:
    """Run a grid of scenarios on Dask; a row per cell in a Parquet table, and plots."""
    from testbed.sweep.console import main as sweep_main

    raise typer.Exit(sweep_main(spec, scheduler=scheduler, out=out, workers=workers,
                                example=example))


@app.command()
def report(run_dir: Path) -> None:
    """Rebuild a run folder's report: the interactive page (the live dashboard's page, offline)
    and the PNG figures."""
    from testbed.report import build_report

    typer.echo(build_report(run_dir))


@app.command()
def emulate(
    config: Path | None = typer.Option(None, help="Emulated bench (TOML); default built in."),
    port_base: int = typer.Option(5025, help="First loopback TCP port."),
) -> None:
    """Serve simulated instruments (SCPI, SunSpec Modbus TCP) on loopback until terminated."""
    from instruments.emulator import main as emulate_main

    raise typer.Exit(emulate_main(config, port_base))


@app.command()
def node(config: Path) -> None:
    """Run a validator node (its key, store and servers in CONFIG) until terminated."""
    from testbed.network.node import main as node_main

    raise typer.Exit(node_main(config))


@network_app.command("up")
def network_up(
    folder: Path,
    validators: int = typer.Option(4, min=1, max=64, help="Validators (on first use)."),
    servers: int = typer.Option(3, min=1, max=7, help="NATS servers (on first use)."),
    scenario: str | None = typer.Option(None, "--scenario", help="Scenario TOML whose market "
                                        "the chain runs (on first use; default: the "
                                        "contract's defaults): a run of it can then use the "
                                        "network while homes' agents are connected to it."),
) -> None:
    """Create a local network in FOLDER on first use; start whatever is down."""
    from testbed.network.local import render_status, status, up

    options = {}
    if scenario is not None:
        from testbed.run.compose import GENESIS_LEAD_S, market_params
        from testbed.scenario import load_scenario

        s = load_scenario(scenario)
        options = {"params": market_params(s), "genesis_time": s.start_s - GENESIS_LEAD_S}
    up(folder, validators, servers, **options)
    typer.echo(render_status(status(folder)))


@network_app.command("status")
def network_status(
    folder: Path, json: bool = typer.Option(False, "--json", help="JSON instead of a table.")
) -> None:
    """Each node's pid, height, lag and head hash. Exits 1 when no node answers (the network
    is down), as `verify` exits 1 on a negative verdict."""
    import json as json_module

    from testbed.network.local import render_status, status

    rows = status(folder)
    typer.echo(json_module.dumps(rows) if json else render_status(rows))
    if all(r["height"] is None for r in rows):
        typer.echo(f"down: no node of {folder} answers (start it: testbed network up "
                   f"{folder})", err=True)
        raise typer.Exit(1)


@network_app.command("down")
def network_down(folder: Path) -> None:
    """Stop the network's nodes and servers."""
    from testbed.network.local import down

    typer.echo(f"stopped {down(folder)} processes")


@network_app.command("admit")
def network_admit(
    folder: Path,
    home: str | None = typer.Option(None, help="A home's account (64 hex digits): it may "
                                    "submit its own transactions and read its own records."),
    auditor: str | None = typer.Option(None, help="An auditor's name: it may read everything."),
    request: Path | None = typer.Option(None, help="A certificate request the party made with "
                                        "its own key (testbed agent keys): the certificate "
                                        "and the CA go back beside it; no key is made here."),
) -> None:
    """Give a home or an auditor a certificate of the network's CA and its permissions; the
    running servers reload them."""
    from testbed.errors import InputError
    from testbed.network.access import ClientRole
    from testbed.network.local import admit

    if (home is not None) + (auditor is not None) + (request is not None) != 1:
        raise InputError("admit one party: --home ACCOUNT, --auditor NAME or --request FILE")
    if request is not None:
        from testbed.agents.identity import deliver

        try:
            data = request.read_bytes()
        except OSError as exc:
            raise InputError(f"{request}: {exc.strerror or exc}") from None
        creds = admit(folder, None, None, data)
        deliver(creds, request.parent)
        typer.echo(f"admitted {creds.user}: certificate {creds.cert} (a copy and the CA in "
                   f"{request.parent}); its key never left its owner")
        return
    role, name = (ClientRole.HOME, home) if home is not None else (ClientRole.AUDITOR, auditor)
    creds = admit(folder, role, name)
    typer.echo(f"admitted {creds.user}: certificate {creds.cert}, key {creds.key} (encrypted), "
               f"CA {creds.ca}")


@agent_app.command("keys")
def agent_keys(folder: Path) -> None:
    """Make a home's own keys (signing, view, TLS) under its own passphrase
    (TESTBED_PASSPHRASE, else asked) and the certificate request the operator signs."""
    from testbed.agents.identity import REQUEST, make_home_keys
    from testbed.ledger.keys import passphrase

    keys = make_home_keys(folder, passphrase())
    typer.echo(f"account {keys.name}\nview key {keys.view.public.hex()}\n"
               f"send the operator {folder / REQUEST} (testbed network admit NETWORK "
               f"--request FILE); keep the rest of {folder} to yourself")


@agent_app.command("run")
def agent_run(
    agent: Path = typer.Argument(..., help="The agent file (testbed agent example)."),
    network: Path = typer.Option(..., "--network", help="The network's folder."),
    home: str = typer.Option(..., "--home", help="The home's name in the scenario "
                                                  "(agent = \"external\")."),
    keys: Path | None = typer.Option(None, "--keys", help="The home's folder (testbed agent "
                                                          "keys); default: ./HOME."),
) -> None:
    """Trade as a home with its own agent and key on a running network: its sealed orders
    and reveals signed here, in time for each gate closure, until Ctrl-C or SIGTERM (or the
    network stops); prints a one-line summary."""
    from testbed.agents.external import run_agent

    typer.echo(run_agent(agent, network, home, keys or Path(home)).line())


@agent_app.command("example")
def agent_example() -> None:
    """Print a complete trading agent (a ZIP trader) to start from."""
    from importlib import resources

    typer.echo(resources.files("testbed.agents").joinpath("example_agent.py").read_text(),
               nl=False)


@instruments_app.command("scan")
def instruments_scan(
    host: list[str] = typer.Option(["127.0.0.1"], "--host", help="Host to probe (repeat)."),
    port: list[int] = typer.Option([], "--port", help="Port to probe (repeat)."),
) -> None:
    """List reachable instruments: VISA resources with their *IDN? reply, SunSpec devices
    with their common model and model list."""
    from instruments.tools import SCAN_PORTS, scan

    raise typer.Exit(scan(host, port or SCAN_PORTS))


@instruments_app.command("check")
def instruments_check(bench_file: Path) -> None:
    """Check that each device of a bench file answers, matches its profile and reads."""
    from instruments.tools import check

    raise typer.Exit(check(bench_file))


def main() -> None:
    """Console entry point: every error a user can cause or fix (`TestbedError`, and a path the
    system refuses) becomes one line on stderr and the error's exit code."""
    import signal
    import warnings

    from testbed.errors import Interrupted, TestbedError

    def terminate(signum: int, frame: object) -> None:  # stop as Ctrl-C does, and say so
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, terminate)
    warnings.showwarning = lambda message, *_, **__: typer.echo(f"warning: {message}", err=True)
    try:
        app()
    except Interrupted as exc:  # everything is written and closed: leave at once
        typer.echo(str(exc), err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exc.exit_code)  # no interpreter teardown (seconds, with this many modules)
    except TestbedError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (FileNotFoundError, PermissionError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
