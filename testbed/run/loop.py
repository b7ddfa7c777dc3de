"""The loop: it sequences the stages of every interval and paces them; the stages do the work.

Per interval k, starting at T (scenario time), each stage hands its values to the next:

    orders      T - gate closure - 60 s   each home's strategy, signed          -> block
    clear       T - gate closure          match (private: the homes' reveals);
                                          grid check; Clearing                  -> block
    setpoints   T                         inverters, loads, grid simulators  (physical homes)
    readings    T + interval              every meter's signed reading          -> block
    settle      T + interval              the contract's payments               -> block

Between them run the control steps: every physical home is measured at its meter; at T its
meter's energy of interval k - 1 is read and its setpoints for k are sent. Paced
(`testbed run`), a control step is due every ``control_step_s`` of wall time and stands for
``control_step_s * real_time_factor`` seconds of the scenario. The market events run beside
the steps, on the market thread, one at a time: after a step's instrument work the next
one due starts once the last has finished and the ledger has committed every batch handed
to it (`Ledger.idle`: each stage reads the state the last one committed), so the steps keep
their pace whatever the market and the ledger do (a clearing with its power flows takes
longer than a step). A clearing the ledger delays past its interval's start
is an alarm (`LedgerLate`): the physical homes are held at no export until it comes, and
get their setpoints at the step after it. Simulated (`testbed simulate`), there is one
control step per interval, at its start, after every market event due before it, and no
waiting but for the ledger.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import math
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from testbed.agents.order_rules import ORDER_LEAD_S
from testbed.events import LedgerLate, Measured, OrdersPlaced, SetpointsSent, StepPaced
from testbed.interval import clearing, external, settlement
from testbed.interval.block import signed
from testbed.interval.physical_homes import PhysicalHome
from testbed.interval.readings import readings
from testbed.interval.setpoints import setpoints
from testbed.ledger.transactions import Reveal
from testbed.market.params import wh_to_kw
from testbed.run.compose import Run
from testbed.run.pacing import GIL_SWITCH_S, Pacer


@dataclass
class Interval:
    """What the stages of one interval hand each other."""

    k: int
    start: int  # Unix seconds
    battery_wh: tuple[int, ...] = ()  # orders -> readings: each home's battery schedule
    reveals: tuple[Reveal, ...] = ()  # orders -> clear: a private market's sealed orders
    sold_kw: dict[int, float] = field(default_factory=dict)  # clear -> setpoints (physical)
    limit_kw: np.ndarray | None = None  # grid -> setpoints: each home's export limit
    curtailed_wh: tuple[int, ...] = ()  # grid -> readings: PV each modelled home gave up
    vm_pu: np.ndarray | None = None  # grid -> setpoints: bus voltages of the power flow
    metered_wh: dict[int, tuple[int, int]] = field(default_factory=dict)  # bench -> readings
    cleared: bool = False  # clear -> setpoints: the clearing has run
    held: bool = False  # setpoints went out before the clearing ran: send them again after


@dataclass(order=True)
class _Event:
    t: int
    seq: int
    k: int = field(compare=False)  # the interval it serves
    run: Callable[[], None] = field(compare=False)


class Loop:
    """One run's intervals, in order, paced on a bench or as fast as possible."""

    def __init__(self, run: Run, paced: bool) -> None:
        self.run, self.paced = run, paced
        self.timing = run.timing
        self.pacer = Pacer(self.timing.control_step_s)
        self.measured: dict[int, Measured] = {}  # physical home -> its last measurement
        self.intervals: dict[int, Interval] = {}
        self._events: list[_Event] = []
        self._seq = itertools.count()
        self._market: ThreadPoolExecutor | None = None  # paced: the market thread
        self._running: Future[None] | None = None  # the market event it runs

    def _at(self, t: int, k: int, run: Callable[[], None]) -> None:
        heapq.heappush(self._events, _Event(t, next(self._seq), k, run))

    def interval(self, k: int) -> Interval:
        if k not in self.intervals:
            self.intervals[k] = Interval(k, self.timing.start_s + k * self.timing.interval_s)
        return self.intervals[k]

    def go(self, progress: Callable[[int], None] | None = None) -> None:
        """Every interval of the run, with the control steps between its events."""
        t_s, gate_s = self.timing, self.timing.gate_closure_s
        for k in range(t_s.intervals):
            t = k * t_s.interval_s
            self._at(t - gate_s - ORDER_LEAD_S, k, lambda k=k: self._orders(k))
            self._at(t - gate_s, k, lambda k=k: self._clear(k))
            self._at(t + t_s.interval_s, k, lambda k=k: self._settle(k))
        self._run_events(before=0)  # the first interval's orders and clearing
        switch_s = sys.getswitchinterval()
        if self.paced:
            sys.setswitchinterval(GIL_SWITCH_S)
            self._market = ThreadPoolExecutor(1, thread_name_prefix="market")
            self.pacer.start()
        try:
            self._steps(progress)
        finally:
            if self._market is not None:  # its event finishes (bounded) before the run closes
                self._market.shutdown(wait=True)
            sys.setswitchinterval(switch_s)
            gc.unfreeze()
        self.run.ledger.wait()  # the last interval's settlement committed

    def _steps(self, progress: Callable[[int], None] | None) -> None:
        """The control steps, each followed by the market events then due."""
        per = self.timing.steps_per_interval
        for n in itertools.count():
            if not self._events and self._running is None:
                break
            k, step = divmod(n, per)
            t = (k + step / per) * self.timing.interval_s
            if self.paced:
                if step == 0:
                    gc.freeze()  # what has lived this long is no work for the collector
                self.pacer.wait()
                self._control_step(t, k, step == 0)
                self._next_market_event(t)
                missed = not self.pacer.done()
                self.run.events.publish(StepPaced(t, self.pacer.lateness_s[-1] * 1e3, missed))
            else:  # a simulated step comes after every market event due before it, and
                # before those due at it, which need its meter energy
                self._run_events(before=t)
                self._control_step(t, k, step == 0)
                self._run_events(before=t, at=True)
            if progress is not None and step == 0:
                progress(k)

    def _run_events(self, before: float, at: bool = False) -> None:
        """The market events due before (and ``at``) scenario time ``before``, in order, on
        the loop's own thread: a simulated run's, and the first interval's of any run."""
        while self._events and (self._events[0].t < before
                                or at and self._events[0].t == before):
            heapq.heappop(self._events).run()

    def _next_market_event(self, t: float) -> None:
        """Paced: start the market event due by ``t`` on the market thread, once the one
        before it has finished (its failure raised here) and the ledger has committed what it
        was handed (the stage needs that state: a later step, then)."""
        if self._running is not None:
            if not self._running.done():
                return
            running, self._running = self._running, None
            running.result()
        if not self._events or self._events[0].t > t or not self.run.ledger.idle():
            return
        event = heapq.heappop(self._events)
        self.interval(event.k)  # made here: the control steps read it while the event runs
        assert self._market is not None
        self._running = self._market.submit(event.run)

    # -- the bench: measure, and at an interval's start, meter energy and setpoints -----------

    def _control_step(self, t: float, k: int, starting: bool) -> None:
        """Measure every physical home; at interval k's start, its meter's energy and k's
        setpoints, else k's setpoints again if they went out before its clearing ran."""
        bench = self.run.bench
        bench.set_time(t)
        iv = self.intervals.get(k)
        if starting and k < self.timing.intervals and not self.interval(k).cleared:
            self.interval(k).held = True
            self.run.events.publish(LedgerLate(t, k, "clearing", "physical homes held at no "
                                                                "export until it clears"))
        resend = not starting and iv is not None and iv.held and iv.cleared
        for home in bench.homes:
            m = bench.measure(home, t)
            self.measured[home.index] = m
            self.run.events.publish(m)
            if starting:
                self._hold(home, k, m, t)
            elif resend:
                self._setpoints(home, iv, t)
        if resend:
            iv.held = False
        bench.kick()

    def _hold(self, home: PhysicalHome, k: int, m: Measured, t: float) -> None:
        """At the start of interval k: the meter's energy over k - 1, and k's setpoints."""
        energy = self.run.bench.interval_energy(home, m)
        if k > 0:  # at k = 0 the counters' starting point
            self.interval(k - 1).metered_wh[home.index] = energy
        if k < self.timing.intervals:
            self._setpoints(home, self.interval(k), t)

    def _setpoints(self, home: PhysicalHome, iv: Interval, t: float) -> None:
        """The interval's setpoints for ``home``: its load, plus what it sold and the grid
        granted (nothing before the clearing), at the bus voltage of the power flow."""
        h = self.run.hood.homes[home.index]
        v_pu = (float(iv.vm_pu[self.run.grid.bus_row(h.bus)]) if iv.vm_pu is not None
                else None)
        limit = float(iv.limit_kw[home.index]) if iv.limit_kw is not None else math.inf
        s = setpoints(h, iv.k, min(iv.sold_kw.get(home.index, 0.0), limit), v_pu)
        self.run.bench.apply(home, s.inverter_kw, s.load_kw, s.v_pu)
        self.run.events.publish(SetpointsSent(t, home.index, s.inverter_kw, s.load_kw, s.v_pu))

    # -- the market ----------------------------------------------------------------------------

    def _orders(self, k: int) -> None:
        run, iv = self.run, self.interval(k)
        placed = run.trading.orders(k, iv.start, run.ledger)
        iv.battery_wh, iv.reveals = placed.battery_wh, placed.reveals
        run.ledger.commit(placed.transactions,
                          iv.start - self.timing.gate_closure_s - ORDER_LEAD_S)
        run.events.publish(OrdersPlaced(k, iv.start, placed.placed, placed.battery_wh))
        for refused in placed.refused:
            run.events.publish(refused)

    def _clear(self, k: int) -> None:
        run, iv = self.run, self.interval(k)
        gate = iv.start - self.timing.gate_closure_s
        measured = dict(self.measured)  # as the control steps left it when the clearing began
        reveals, clear_at = (self._external_gate(k, iv, gate) if run.trading.external
                             else (iv.reveals, gate))
        matched = clearing.match(run.ledger.contract, iv.start, run.home_of, reveals)
        body = clearing.decide(matched, run.grid.check(k, matched, measured))
        run.ledger.commit([signed(run.ledger, run.ledger.operator, body)], clear_at)
        event = clearing.cleared(k, matched, body)
        run.events.publish(event)
        run.trading.cleared(event.price_per_kwh, sum(t.granted_wh for t in event.trades))
        physical = {home.index for home in run.bench.homes}
        sold_wh = clearing.sold_wh(event.trades)
        iv.sold_kw = {home: wh_to_kw(wh, self.timing.interval_s)
                      for home, wh in sold_wh.items() if home in physical}
        state = run.grid.control(k, iv.start, measured, sold_wh, physical)
        iv.vm_pu, iv.limit_kw, iv.curtailed_wh = state.vm_pu, state.limit_kw, state.curtailed_wh
        iv.cleared = True
        run.events.publish(state.solved)

    def _external_gate(self, k: int, iv: Interval, gate: int) -> tuple[tuple[Reveal, ...], int]:
        """Gate closure with external homes (`interval.external`): their orders, then their
        reveals, each waited for a bounded while; the reveals the clearing still relays and
        its block time."""
        run, accounts = self.run, self.run.trading.external_accounts
        missing = list(external.await_orders(run.ledger, k, iv.start, accounts))
        reveals, clear_at = iv.reveals, gate
        if external.externally_sealed(run.ledger.contract, iv.start, accounts):
            run.ledger.commit(run.trading.own_reveals(run.ledger, reveals), gate)
            reveals = ()
            missing += external.await_reveals(run.ledger, k, iv.start, accounts)
            clear_at = external.clearing_time(run.ledger.contract, iv.start)
        for record in missing:
            run.events.publish(record)
        return reveals, clear_at

    def _settle(self, k: int) -> None:
        run, iv = self.run, self.intervals.pop(k)
        txs, read = readings(k, iv.start, run.hood.homes, run.keys.accounts, run.keys.meters,
                             iv.battery_wh, iv.metered_wh, iv.curtailed_wh,
                             self.timing.interval_s, run.ledger, run.sealers)
        end = iv.start + self.timing.interval_s
        # the readings and, after them in the same block, the settlement they make possible
        proposal = settlement.settle(run.ledger.preview(txs, end), iv.start,
                                     run.sealers.of(run.ledger.operator.public))
        run.ledger.commit([*txs, signed(run.ledger, run.ledger.operator, proposal.body)], end)
        run.ledger.flush()  # the interval's blocks stored together
        for event in read:
            run.events.publish(event)
        run.events.publish(settlement.settled(k, proposal, run.home_of))
