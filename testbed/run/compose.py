"""The composition root: a run's parts, built once from its scenario, each given only its own
settings. Nothing below this module reads the scenario."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kernels
from grid_models import load_feeder
from grid_models.diagram import one_line
from grid_models.violations import Limits
from testbed.agents.grid_gate import FeederGate
from testbed.agents.identity import public_keys
from testbed.agents.loading import close, parse_strategy, traders
from testbed.agents.tariff import parse_grid_fee, tariff
from testbed.agents.trader import Trader
from testbed.errors import ScenarioError
from testbed.events import EventStream, HomeInfo, RunStarted
from testbed.interrupts import interruptible
from testbed.interval.block import EmbeddedLedger, Ledger
from testbed.interval.grid import Grid
from testbed.interval.orders import Trading
from testbed.interval.physical_homes import BenchHome, PhysicalHomes
from testbed.ledger.keys import PublicOnly, passphrase
from testbed.ledger.sealing import Sealers
from testbed.ledger.transactions import SetGridFees
from testbed.market.params import MarketParams, Mechanism, Privacy
from testbed.neighbourhood import Neighbourhood, build
from testbed.outcomes.observer import Outcomes
from testbed.records.recorder import Recorder
from testbed.run.keys import RunKeys
from testbed.scenario import Scenario

AUDITOR_VIEW_KEY = "auditor.view"
"""The run's auditor view key, in the run folder (`testbed verify LEDGER --view-key`)."""
GENESIS_LEAD_S = 3600
"""The ledger starts (genesis, registrations, deposits) this long before the first interval."""
SIMULATED_PHYSICS_STEP_S = 15.0
"""Emulated devices integrate in 15 s steps when simulating (1 s when paced): their ramps
settle within seconds and their sun moves in 15-minute steps, so this loses nothing."""


@dataclass(frozen=True)
class Timing:
    """The run's clock: intervals, and control steps per interval (1 when simulating)."""

    start_s: int  # the first interval's start, Unix seconds
    intervals: int
    interval_s: int
    gate_closure_s: int
    steps_per_interval: int
    control_step_s: float


@dataclass
class Run:
    """Everything one run uses, built once."""

    timing: Timing
    params: MarketParams
    hood: Neighbourhood
    keys: RunKeys
    home_of: dict[bytes, int]  # account -> home index
    deposit_units: int
    events: EventStream
    recorder: Recorder
    outcomes: Outcomes
    ledger: Ledger
    sealers: Sealers  # the meters' and the operator's, in a private market
    trading: Trading
    agents: tuple[Trader, ...]  # the run's and the baseline's traders: agent processes to stop
    grid_fees: SetGridFees | None  # the operator's tariff (a fee design beyond a flat fee)
    grid: Grid
    bench: PhysicalHomes
    started: RunStarted

    def close(self) -> None:
        """Devices safe and emulators stopped, then the ledger closed and the agents'
        processes stopped."""
        try:
            self.bench.close()
        finally:
            try:
                self.ledger.close()
            finally:
                close(self.agents)


def market_params(scenario: Scenario) -> MarketParams:
    m = scenario.market
    mechanism = Mechanism.PAY_AS_CLEAR if m.mechanism == "pay_as_clear" else Mechanism.PAY_AS_BID
    return MarketParams(
        interval_seconds=m.interval_s, gate_closure_seconds=m.gate_closure_s,
        mechanism=int(mechanism), feed_in_price_per_kwh=m.feed_in_price_per_kwh,
        retail_price_per_kwh=m.retail_price_per_kwh,
        shortfall_penalty_per_kwh=m.shortfall_penalty_per_kwh,
        privacy=int(Privacy[m.privacy.upper()]),
        grid_fee_per_kwh=parse_grid_fee(m.grid_fee).genesis_per_kwh,
    ).check()


def grid_limits(scenario: Scenario) -> Limits:
    g = scenario.grid
    return Limits(g.vm_min_pu, g.vm_max_pu, g.max_line_loading_percent,
                  g.max_trafo_loading_percent, g.max_trafo3w_loading_percent, g.max_vuf_percent)


def timing(scenario: Scenario, paced: bool) -> Timing:
    """The run's clock. Paced, the scenario time one control step stands for must divide the
    interval, so interval boundaries fall on steps exactly."""
    t, interval_s = scenario.time, scenario.market.interval_s
    steps = 1
    if paced:
        step = t.control_step_s * t.real_time_factor
        steps = round(interval_s / step)
        if steps < 1 or abs(steps * step - interval_s) > 1e-6 * step:
            raise ScenarioError(scenario.source, [
                (f"time: control_step_s x real_time_factor = {step:g} s of scenario time "
                 f"must divide the {interval_s} s market interval")])
    return Timing(scenario.start_s, scenario.intervals, interval_s,
                  scenario.market.gate_closure_s, steps, t.control_step_s)


def external_homes(scenario: Scenario, hood: Neighbourhood) -> dict[int, tuple[bytes, bytes]]:
    """The homes the scenario marks ``agent = "external"``, by index: their account and view
    keys' public halves, read from each home's folder."""
    found = {}
    for spec in scenario.households.homes:
        if spec.agent == "external" and spec.keys is not None:
            public = public_keys(Path(spec.keys))
            found[hood.index(spec.name)] = (public.account, public.view)
    return found


KeySource = Callable[[int, int], RunKeys]
"""(homes, validators) -> the run's keys: `RunKeys.generate` unless the user says otherwise."""


def open_ledger(scenario: Scenario, out: Path, keys: RunKeys, params: MarketParams,
                genesis_s: int, events: EventStream) -> Ledger:
    """The run's ledger: on the local network the scenario names (`[ledger] network`,
    `--network`), else embedded in this process; either way its file is in the run folder."""
    if scenario.ledger.network is not None:
        from testbed.network.network_ledger import NetworkLedger

        return NetworkLedger.open(Path(scenario.ledger.network), out / scenario.ledger.path,
                                  params, genesis_s, events, scenario.ledger.commit_deadline_s)
    return EmbeddedLedger.create(out / scenario.ledger.path, keys.validators, params,
                                 genesis_s, events, keys.validators_view)


def assemble(scenario: Scenario, out: Path, *, paced: bool, keys: KeySource = RunKeys.generate,
             handle_signals: bool = True) -> Run:
    """Build every part of a run into ``out``; nothing is left running if a part fails.
    The kernels are loaded first (compiled, the first time on a machine, and each one's auto
    backend measured), before the clock starts and so that the processes a run starts (its
    ledger's follower, a network's nodes) load them instead of compiling."""
    interruptible(functools.partial(kernels.warm, parallel=True))
    clock = timing(scenario, paced)
    params = market_params(scenario)
    feeder = interruptible(load_feeder, scenario.grid.feeder)
    hood = build(scenario.households, [p.home for p in scenario.physical], feeder,
                 clock.start_s, clock.interval_s, clock.intervals, scenario.source,
                 scenario.grid.single_phase_max_kva)
    if scenario.grid.phases == "unbalanced":  # home i is load i, on its phase
        feeder = feeder.with_phases(hood.phases)
    external = external_homes(scenario, hood)
    run_keys = keys(len(hood.homes), scenario.ledger.validators).with_external(external)
    out.mkdir(parents=True, exist_ok=True)
    if params.privacy == Privacy.PRIVATE:  # so the sealed records can be audited after the run
        run_keys.auditor_view.save(out / AUDITOR_VIEW_KEY, passphrase(development=True))
    limits = grid_limits(scenario)
    grid = Grid(feeder, hood, FeederGate(feeder, limits), limits, clock.interval_s)
    choice, seed = parse_strategy(scenario.households.strategy), scenario.households.seed
    agents = traders(hood.homes, choice, seed)
    try:
        baseline_agents = traders(hood.homes, choice, seed)  # the baseline's own instances
    except BaseException:
        close(agents)
        raise
    try:
        return _parts(scenario, out, paced, handle_signals, clock, params, feeder, hood,
                      run_keys, grid, (agents, baseline_agents))
    except BaseException:
        close((*agents, *baseline_agents))
        raise


def _parts(scenario: Scenario, out: Path, paced: bool, handle_signals: bool, clock: Timing,
           params: MarketParams, feeder: Any, hood: Neighbourhood, run_keys: RunKeys,
           grid: Grid, agents: tuple[tuple[Trader, ...], tuple[Trader, ...]]) -> Run:
    """The parts after the traders (`assemble`'s, which closes the traders' agent
    processes if one fails)."""
    events = EventStream()
    outcomes = Outcomes(hood, params, scenario.households.seed, clock.start_s, grid, events,
                        agents[1])
    recorder = Recorder(out)
    events.subscribe(outcomes)  # first: an interval's outcome reaches the recorder with its rows
    events.subscribe(recorder)
    ledger = open_ledger(scenario, out, run_keys, params, clock.start_s - GENESIS_LEAD_S,
                         events)
    try:
        bench = PhysicalHomes(
            [BenchHome(hood.index(p.home), p, hood.pv_kwp[hood.index(p.home)])
             for p in scenario.physical],
            start=scenario.time.start, seed=scenario.households.seed,
            real_time_factor=scenario.time.real_time_factor,
            log_path=out / "instruments.log", events=events,
            watchdog_deadline_s=2 * clock.control_step_s if paced else 30.0,
            physics_step_s=1.0 if paced else SIMULATED_PHYSICS_STEP_S,
            handle_signals=handle_signals, apart=paced,
        )
    except BaseException:
        ledger.close()
        raise
    g = scenario.grid
    started = RunStarted(
        scenario.name, clock.start_s, clock.interval_s, clock.intervals, g.feeder,
        tuple(HomeInfo(h.name, h.bus, h.kind.name.lower(), hood.pv_kwp[i],
                       h.battery.capacity_wh / 1000 if h.battery else 0,
                       h.name in hood.physical, hood.phases[i])
              for i, h in enumerate(hood.homes)),
        g.vm_min_pu, g.vm_max_pu, g.max_line_loading_percent, g.max_trafo_loading_percent,
        one_line(feeder.net, hood.phases, [h.name for h in hood.homes]), g.phases, g.max_vuf_percent,
    )
    return Run(
        timing=clock, params=params, hood=hood, keys=run_keys,
        home_of={a.public: i for i, a in enumerate(run_keys.accounts)},
        deposit_units=scenario.households.deposit, events=events, recorder=recorder,
        outcomes=outcomes, ledger=ledger, sealers=Sealers(run_keys.entropy),
        trading=Trading(hood.homes, run_keys.accounts, params, scenario.households.seed,
                        run_keys.entropy, agents[0],
                        frozenset(i for i, a in enumerate(run_keys.accounts)
                                  if isinstance(a, PublicOnly))),
        agents=(*agents[0], *agents[1]),
        grid_fees=tariff(parse_grid_fee(scenario.market.grid_fee), feeder.net,
                         [h.bus for h in hood.homes], clock.start_s),
        grid=grid, bench=bench, started=started,
    )
