"""The loop: market intervals end to end, on a bench in real time or simulated as fast as
possible. One code path; only the pacing and the instruments' clock differ.

Per delivery interval k, starting at T (scenario time), the market events are those of
`testbed.market.day`: orders before gate closure, the clearing (through the feeder's
feasibility check) at gate closure, readings and settlement at T + interval. Between them run
the control steps: read the physical homes' meters and inverters, and at T set the interval's
setpoints through the safety layer: each inverter at its home's load plus the export its owner
sold and the grid granted (curtailment is enforced at the inverter), the emulated household
load at its profile, and the grid simulator at the bus voltage of the interval's power flow.

Paced (`testbed run`), a control step is due every ``control_step_s`` of wall time and stands
for ``control_step_s * real_time_factor`` seconds of the scenario; at most one market event
runs after a step's instrument work, so the control steps keep their pace. Simulated
(`testbed simulate`), there is one control step per interval and no waiting.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grid_models import Feeder, Injections, Limits, load_feeder, solve_snapshots
from testbed.errors import InputError
from testbed.market import day as market
from testbed.market.grid_gate import FeederGate
from testbed.market.params import MarketParams, Mechanism, wh_to_kw
from testbed.market.strategies import metered
from testbed.neighbourhood import Neighbourhood, build, injections
from testbed.pacing import Pacer
from testbed.physical import Instruments, Measurement, PhysicalHome
from testbed.records import GridState, Recorder
from testbed.scenario import Scenario

SIMULATED_PHYSICS_STEP_S = 15.0
"""Emulated devices integrate in 15 s steps when simulating (1 s when paced): their ramps
settle within seconds and their sun moves in 15-minute steps, so this loses nothing."""


def market_params(scenario: Scenario) -> MarketParams:
    m = scenario.market
    mechanism = Mechanism.PAY_AS_CLEAR if m.mechanism == "pay_as_clear" else Mechanism.PAY_AS_BID
    return MarketParams(
        interval_seconds=m.interval_s, gate_closure_seconds=m.gate_closure_s,
        mechanism=int(mechanism), feed_in_price=m.feed_in_price,
        retail_price=m.retail_price, shortfall_penalty=m.shortfall_penalty,
    ).check()


def grid_limits(scenario: Scenario) -> Limits:
    g = scenario.grid
    return Limits(g.vm_min_pu, g.vm_max_pu, g.max_line_loading_percent,
                  g.max_trafo_loading_percent)


@dataclass(order=True)
class _Event:
    t: int
    seq: int
    run: Callable[[], None] = field(compare=False)


class Loop:
    """One run of a scenario into a run folder."""

    def __init__(self, scenario: Scenario, out: Path, paced: bool,
                 handle_signals: bool = True) -> None:
        self.scenario, self.paced = scenario, paced
        self.steps_per_interval = _steps_per_interval(scenario) if paced else 1
        self.steps = scenario.intervals
        self.interval_s = scenario.market.interval_s
        self.feeder: Feeder = load_feeder(scenario.grid.feeder)
        self.hood: Neighbourhood = build(scenario, self.feeder, self.steps)
        out.mkdir(parents=True, exist_ok=True)
        self.day = market.open_day(
            list(self.hood.homes), scenario.start_s, scenario.households.seed,
            market_params(scenario), FeederGate(self.feeder, self._base, grid_limits(scenario)),
            str(out / scenario.ledger.path), deposit=scenario.households.deposit,
        )
        self.records = Recorder(scenario, self.hood, [a.public for a in self.day.accounts])
        step_s = scenario.time.control_step_s
        try:
            self.instruments = Instruments(
                scenario, self.hood, out / "instruments.log",
                watchdog_deadline_s=2 * step_s if paced else 30.0,
                physics_step_s=1.0 if paced else SIMULATED_PHYSICS_STEP_S,
                handle_signals=handle_signals,
            )
        except BaseException:
            self.day.chain.close()
            raise
        self.pacer = Pacer(step_s)
        self.measured: dict[int, Measurement] = {}
        self.metered: dict[tuple[int, int], tuple[int, int]] = {}  # (home, k) -> Wh in, out
        self.sold_kw: dict[tuple[int, int], float] = {}  # (physical home, k) -> granted export
        self.export_cap_wh: dict[int, dict[int, int]] = {}  # k -> curtailed seller -> granted
        self.vm: dict[int, np.ndarray] = {}  # k -> bus voltages of the interval's power flow
        self._events: list[_Event] = []
        self._seq = itertools.count()

    # -- the schedule -------------------------------------------------------------------------

    def _at(self, t: int, run: Callable[[], None]) -> None:
        heapq.heappush(self._events, _Event(t, next(self._seq), run))

    def run(self, progress: Callable[[int], None] | None = None) -> None:
        """Every interval of the scenario; devices are made safe however it ends."""
        gc = self.scenario.market.gate_closure_s
        for k in range(self.steps):
            t = k * self.interval_s
            self._at(t - gc - market.ORDER_LEAD_SECONDS, lambda k=k: self._orders(k))
            self._at(t - gc, lambda k=k: self._clearing(k))
            self._at(t + self.interval_s, lambda k=k: self._settle(k))
        try:
            while self._events[0].t < 0:  # the first interval's orders and clearing
                heapq.heappop(self._events).run()
            if self.paced:
                self.pacer.start()
            for n in itertools.count():
                if not self._events:
                    break
                k, step = divmod(n, self.steps_per_interval)
                t = (k + step / self.steps_per_interval) * self.interval_s
                if self.paced:
                    self.pacer.wait()
                self._control_step(t, k if step == 0 else None)
                for _ in range(1 if self.paced else len(self._events)):
                    if not self._events or self._events[0].t > t:
                        break
                    heapq.heappop(self._events).run()
                if self.paced:
                    self.pacer.done()
                if progress is not None and step == 0:
                    progress(k)
        finally:
            self.instruments.close()
            self.day.chain.close()

    # -- control steps --------------------------------------------------------------------------

    def _control_step(self, t: float, starting: int | None) -> None:
        """Measure every physical home; at the start of interval ``starting``, hold it."""
        self.instruments.set_time(t)
        for home in self.instruments.homes:
            m = self.instruments.measure(home)
            self.measured[home.index] = m
            self.records.measurement(t, home.name, m)
            if starting is not None:
                self._hold(home, starting, m)
        self.instruments.kick()

    def _hold(self, home: PhysicalHome, k: int, m: Measurement) -> None:
        """At the start of interval k: the meter's energy over k - 1, and k's setpoints."""
        if k > 0:
            self.metered[(home.index, k - 1)] = self.instruments.interval_energy(home, m)
        else:
            self.instruments.interval_energy(home, m)  # the counters' starting point
        if k < self.steps:
            h = self.hood.homes[home.index]
            load_kw = float(h.load_kw[k])
            v_pu = float(self.vm[k][self._bus_row(h.bus)]) if k in self.vm else None
            self.instruments.apply(home, load_kw + self.sold_kw.get((home.index, k), 0.0),
                                   load_kw, v_pu)

    def _bus_row(self, bus: int) -> int:
        return self.feeder.net.bus.index.get_loc(bus)

    # -- market events ----------------------------------------------------------------------

    def _orders(self, k: int) -> None:
        self.records.orders(k, market.order_block(self.day, k).transactions)

    def _clearing(self, k: int) -> None:
        clearing = market.clearing_block(self.day, k).transactions[0].body
        sales = self.records.clearing(k, clearing)
        physical = {home.index for home in self.instruments.homes}
        for home, wh in sales.items():
            if home in physical:
                self.sold_kw[(home, k)] = wh_to_kw(wh, self.interval_s)
        curtailed = {self.records.order_home[t.offer] for t in clearing.trades
                     if t.granted_wh < t.energy_wh}
        self.export_cap_wh[k] = {home: sales.get(home, 0) for home in curtailed - physical}
        p, q = self._net_kw(k)
        for home, wh in self.export_cap_wh[k].items():  # their inverters hold back the rest
            p[home] = max(p[home], -wh_to_kw(wh, self.interval_s))
        result = solve_snapshots(self.feeder, *_rows(injections(self.feeder, p, q)))
        if result.converged[0]:
            self.vm[k] = result.vm_pu[0]
            lines = result.line_loading_percent[0]
            self.records.grid(k, GridState(float(result.vm_pu[0].min()),
                                           float(result.vm_pu[0].max()),
                                           float(lines.max()) if lines.size else 0.0))

    def _settle(self, k: int) -> None:
        measured = {home: self.metered.pop((home, k)) for home, kk in list(self.metered)
                    if kk == k}
        battery = self.day.battery_wh[self.day.interval(k)]
        for home, cap in self.export_cap_wh.pop(k).items():
            imported, exported = metered(self.hood.homes[home], k, battery[home],
                                         self.interval_s)
            measured[home] = (imported, min(exported, cap))
        market.readings_block(self.day, k, measured)
        block = market.settlement_block(self.day, k)
        record = self.day.records[self.day.interval(k)]
        self.records.settlement(k, record.delivered_per_trade,
                                block.transactions[0].body.payments)
        self.vm.pop(k, None)

    # -- the grid -----------------------------------------------------------------------------

    def _net_kw(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each home's net consumption in interval k (kW, kvar) as the grid will see it: the
        profiles, or for a physical home the last measurement at its meter."""
        p, q = self.hood.net_kw(k), self.hood.load_q_kvar[k].copy()
        for index, m in self.measured.items():
            p[index], q[index] = m.p_kw, m.q_kvar
        return p, q

    def _base(self, interval: int) -> Injections:
        """Interval ``interval`` without its trades (sellers not exporting what they sold,
        buyers not drawing what they bought): the feasibility check adds them back."""
        k = (interval - self.scenario.start_s) // self.interval_s
        p, q = self._net_kw(k)
        home = self.records.home_of
        owner = {o.order_id: home[o.owner] for o in self.day.contract.book(interval)}
        for m in self.day.contract.matching(interval).matches:
            kw = wh_to_kw(m.energy_wh, self.interval_s)
            p[owner[m.offer]] += kw
            p[owner[m.bid]] -= kw
        return injections(self.feeder, p, q)


def _steps_per_interval(scenario: Scenario) -> int:
    """Control steps per market interval: the scenario time one step stands for must divide
    the interval, so interval boundaries fall on steps exactly."""
    step = scenario.time.control_step_s * scenario.time.real_time_factor
    n = round(scenario.market.interval_s / step)
    if n < 1 or abs(n * step - scenario.market.interval_s) > 1e-6 * step:
        raise InputError(
            f"time: control_step_s x real_time_factor = {step:g} s of scenario time must divide "
            f"the {scenario.market.interval_s} s market interval")
    return n


def _rows(i: Injections) -> tuple[np.ndarray, ...]:
    return i.load_p_mw[None], i.load_q_mvar[None], i.sgen_p_mw[None], i.sgen_q_mvar[None]


def run_scenario(scenario: Scenario, out: Path, paced: bool,
                 progress: Callable[[int], None] | None = None) -> dict:
    """Run ``scenario`` into ``out``: the ledger, the records, summary.json and the report.

    The ledger is verified from genesis at the end, by the same rules as `testbed verify`. A
    run stopped early (Ctrl-C, or the bench tripped: devices are then in their safe state)
    still writes what it has, and says why in ``stopped``, before the stop propagates.
    """
    from instruments.errors import InstrumentError
    from testbed.contract import verify_ledger
    from testbed.report import build_report

    loop = Loop(scenario, out, paced)
    stopped: BaseException | None = None
    try:
        loop.run(progress)
    except (KeyboardInterrupt, InstrumentError) as exc:
        stopped = exc  # every committed block is whole; the devices are safe
    day = market.summary(loop.day)
    p50, p99 = loop.pacer.jitter_ms() if paced else (None, None)
    report = verify_ledger(out / scenario.ledger.path)
    summary = loop.records.write(out, {
        "money_conservation_error": day["conservation_error"],
        "blocks": report.blocks,
        "ledger_valid": report.ok,
        "step_jitter_p50_ms": None if p50 is None else round(p50, 3),
        "step_jitter_p99_ms": None if p99 is None else round(p99, 3),
        "deadline_misses": loop.pacer.misses if paced else 0,
        "control_steps": len(loop.pacer.lateness_s) if paced else None,
        "stopped": None if stopped is None else (str(stopped) or "interrupted"),
    })
    build_report(out)
    if stopped is not None:
        raise stopped
    return summary
