"""One market day for N homes of the SimBench feeder, through the real ledger (in memory
unless given a path).

Per delivery interval k (start T_k) the steps are separate functions, each one block:
`order_block` (strategies -> signed orders, before gate closure), `clearing_block` (match,
grid gate, signed Clearing, at gate closure), `readings_block` (signed meter readings of the
actual profiles, at the interval's end) and `settlement_block` (signed Settlement). The
interval before is read and settled while the next one is traded, so block times only grow.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field, replace

import numpy as np

from testbed.errors import InputError
from testbed.ledger.blocks import Block
from testbed.ledger.chain import Chain
from testbed.ledger.demo import register_and_fund
from testbed.ledger.keys import KeyPair
from testbed.ledger.transactions import (
    MeterReading,
    Order,
    RegisterParticipant,
    Transaction,
    sign,
)
from testbed.market.contract import MarketContract
from testbed.market.grid_gate import AcceptAll, FeederGate, GridGate
from testbed.market.params import MarketParams, PaymentKind, affordable_wh
from testbed.market.proposer import gated_clearing, settle
from testbed.market.strategies import (
    MIN_ORDER_WH,
    PROFILE_STEP_SECONDS,
    STEPS_PER_DAY,
    Home,
    MarketView,
    feeder,
    feeder_homes,
    metered,
    plan,
)

PROFILE_YEAR = 2016  # the year of the SimBench profiles (366 days of 15-minute values)
SUMMER_DAY = 172  # 21 June (0-based day of the profile year)
INITIAL_DEPOSIT = 100_000  # money units per home (100 euro at the default 0.1 ct unit)
ORDER_LEAD_SECONDS = 60  # orders go in this long before gate closure


@dataclass
class IntervalRecord:
    interval: int
    price: int = 0
    traded_wh: int = 0
    granted_wh: int = 0
    curtailed_trades: int = 0
    delivered_wh: int = 0
    delivered_per_trade: tuple[int, ...] = ()
    payments: dict[int, int] = field(default_factory=lambda: defaultdict(int))


@dataclass
class MarketDay:
    """A running market day: the chain, who is who, and what the simulation remembers."""

    chain: Chain
    validator: KeyPair
    homes: list[Home]
    accounts: list[KeyPair]
    meters: list[KeyPair]
    start: int
    seed: int
    gate: GridGate
    soc_wh: list[int]
    deposited: int = 0
    prices: list[int] = field(default_factory=list)  # clearing prices of traded intervals
    battery_wh: dict[int, list[int]] = field(default_factory=dict)
    records: dict[int, IntervalRecord] = field(default_factory=dict)

    @property
    def contract(self) -> MarketContract:
        return self.chain.state.contract

    @property
    def params(self) -> MarketParams:
        return self.contract.params

    def market_view(self) -> MarketView:
        if not self.prices:
            return MarketView()
        return MarketView(self.prices[-1], sum(self.prices) // len(self.prices))

    def interval(self, step: int) -> int:
        return self.start + step * self.params.interval_seconds

    def signed(self, body: object, key: KeyPair) -> Transaction:
        nonce = self.chain.next_nonce(key.public)
        return sign(body, key, nonce, self.chain.chain_id)


def day_start(day_of_year: int) -> int:
    return calendar.timegm((PROFILE_YEAR, 1, 1, 0, 0, 0)) + day_of_year * 86_400


def open_day(
    homes: list[Home], start: int, seed: int = 0, params: MarketParams | None = None,
    gate: GridGate | None = None, path: str = ":memory:", first_interval: int | None = None,
    deposit: int = INITIAL_DEPOSIT,
) -> MarketDay:
    """Genesis with the market parameters, then one block of registrations and one of
    deposits, an hour before the first interval traded (default: the day's first)."""
    params = params or MarketParams()
    validator = KeyPair.development("market-day/validator-0")
    t0 = (start if first_interval is None else first_interval) - 3600
    chain = Chain.create(path, [validator], contract=MarketContract(),
                         contract_params=params.encode(), timestamp=t0)
    day = MarketDay(
        chain, validator, homes,
        [KeyPair.development(f"market-day/home-{i}") for i in range(len(homes))],
        [KeyPair.development(f"market-day/meter-{i}") for i in range(len(homes))],
        start, seed, gate or AcceptAll(),
        [h.battery.capacity_wh // 2 if h.battery else 0 for h in homes],
    )
    register_and_fund(chain, validator, [
        (a, RegisterParticipant(h.bus, h.kind.value, m.public))
        for h, a, m in zip(homes, day.accounts, day.meters)
    ], deposit)
    day.deposited = deposit * len(homes)
    return day


def order_block(day: MarketDay, step: int) -> Block:
    """Every home's strategy for interval ``step``, signed, in one block before gate closure."""
    interval = day.interval(step)
    rng = np.random.default_rng([day.seed, step])
    txs, battery = [], []
    view = day.market_view()
    for i, (home, key) in enumerate(zip(day.homes, day.accounts)):
        decision = plan(home, step, interval, day.params, rng, day.soc_wh[i], view)
        battery.append(decision.battery_wh)
        day.soc_wh[i] += decision.battery_wh  # the battery follows its schedule
        order = _within_budget(day, key.public, decision.order)
        if order is not None:
            txs.append(day.signed(order, key))
    day.battery_wh[interval] = battery
    gate_closure = interval - day.params.gate_closure_seconds
    return day.chain.produce(txs, gate_closure - ORDER_LEAD_SECONDS, day.validator)


def _within_budget(day: MarketDay, account: bytes, order: Order | None) -> Order | None:
    """The order cut to what its owner's balance can escrow (a home that cannot pay does not
    trade; it buys from the utility outside the market), or None when too small to place."""
    if order is None:
        return None
    balance = day.contract.participants[account].balance
    energy = min(order.energy_wh, affordable_wh(day.params, order.side, balance))
    if energy < MIN_ORDER_WH:
        return None
    return order if energy == order.energy_wh else replace(order, energy_wh=energy)


def clearing_block(day: MarketDay, step: int) -> Block:
    """The clearing of interval ``step`` (matched, then through the grid gate) at gate closure."""
    interval = day.interval(step)
    body = gated_clearing(day.contract, interval, day.gate)
    record = day.records[interval] = IntervalRecord(interval, body.price)
    record.traded_wh = sum(t.energy_wh for t in body.trades)
    record.granted_wh = sum(t.granted_wh for t in body.trades)
    record.curtailed_trades = sum(t.granted_wh < t.energy_wh for t in body.trades)
    if body.trades:
        day.prices.append(body.price)
    gate_closure = interval - day.params.gate_closure_seconds
    return day.chain.produce([day.signed(body, day.validator)], gate_closure, day.validator)


def readings_block(
    day: MarketDay, step: int, measured: dict[int, tuple[int, int]] | None = None
) -> Block:
    """Every meter's signed reading of interval ``step``, at the interval's end: what a
    physical home's meter measured (``measured``: home -> imported, exported Wh), else the
    actual profiles plus the battery schedule."""
    interval = day.interval(step)
    battery = day.battery_wh.pop(interval)
    measured = measured or {}
    txs = []
    for i, (home, key, meter) in enumerate(zip(day.homes, day.accounts, day.meters)):
        imported, exported = measured.get(i) or metered(
            home, step, battery[i], day.params.interval_seconds)
        txs.append(day.signed(MeterReading(key.public, interval, imported, exported), meter))
    end = interval + day.params.interval_seconds
    return day.chain.produce(txs, end, day.validator)


def settlement_block(day: MarketDay, step: int) -> Block:
    """The settlement of interval ``step``, once its readings are on the chain."""
    interval = day.interval(step)
    proposal = settle(day.contract, interval)
    record = day.records[interval]
    record.delivered_per_trade = proposal.delivered_wh
    record.delivered_wh = sum(proposal.delivered_wh)
    for p in proposal.body.payments:
        record.payments[p.kind] += p.amount
    end = interval + day.params.interval_seconds
    return day.chain.produce([day.signed(proposal.body, day.validator)], end, day.validator)


def feeder_gate(day_of_year: int) -> FeederGate:
    """The power-flow gate of the SimBench feeder: its own profiles of the day are the base
    injections, the trades go on top."""
    f = feeder()
    start, first = day_start(day_of_year), day_of_year * STEPS_PER_DAY

    def base(interval: int) -> object:
        return f.profiles.at(first + (interval - start) // PROFILE_STEP_SECONDS)

    return FeederGate(f, base)


def run_day(
    homes: int = 40, seed: int = 0, day_of_year: int = SUMMER_DAY, steps: int = STEPS_PER_DAY,
    first_step: int = 0, params: MarketParams | None = None, grid: bool = False,
    path: str = ":memory:",
) -> dict[str, float]:
    """Trade intervals ``first_step`` .. ``first_step + steps - 1`` of one day among ``homes``
    homes, through the feeder's power flow when ``grid`` (else every trade is granted); the
    day's `summary`."""
    params = params or MarketParams()
    if params.interval_seconds != PROFILE_STEP_SECONDS:
        raise InputError(f"SimBench days need {PROFILE_STEP_SECONDS} s intervals")
    if not (0 <= first_step and 0 < steps and first_step + steps <= STEPS_PER_DAY):
        raise InputError(f"a day has intervals 0..{STEPS_PER_DAY - 1}")
    gate = feeder_gate(day_of_year) if grid else AcceptAll()
    start = day_start(day_of_year)
    day = open_day(feeder_homes(homes, day_of_year, seed), start, seed, params, gate, path,
                   first_interval=start + first_step * PROFILE_STEP_SECONDS)
    last = first_step + steps - 1
    try:
        for step in range(first_step, last + 1):
            order_block(day, step)
            clearing_block(day, step)
            if step > first_step:
                readings_block(day, step - 1)
                settlement_block(day, step - 1)
        readings_block(day, last)
        settlement_block(day, last)
        return summary(day)
    finally:
        day.chain.close()


def summary(day: MarketDay) -> dict[str, float]:
    """Energy, prices and money of the day; the conservation error is recomputed from the
    deposits and the settlement payments, independently of the contract's own counters."""
    records = list(day.records.values())
    prices = day.prices
    paid = defaultdict(int)
    for r in records:
        for kind, amount in r.payments.items():
            paid[kind] += amount
    expected = (day.deposited + paid[PaymentKind.FEED_IN] - paid[PaymentKind.RETAIL]
                - paid[PaymentKind.PENALTY])
    c = day.contract
    return {
        "homes": len(day.homes),
        "intervals": len(records),
        "blocks": day.chain.height + 1,
        "intervals_with_trades": len(prices),
        "traded_kwh": sum(r.traded_wh for r in records) / 1000,
        "granted_kwh": sum(r.granted_wh for r in records) / 1000,
        "curtailed_trades": sum(r.curtailed_trades for r in records),
        "delivered_kwh": sum(r.delivered_wh for r in records) / 1000,
        "price_min": min(prices, default=0),
        "price_mean": sum(prices) / len(prices) if prices else 0.0,
        "price_max": max(prices, default=0),
        "paid_trade": paid[PaymentKind.TRADE],
        "paid_retail": paid[PaymentKind.RETAIL],
        "paid_feed_in": paid[PaymentKind.FEED_IN],
        "paid_penalty": paid[PaymentKind.PENALTY],
        "payments_total": sum(paid.values()),
        "money_held": c.money_held(),
        "conservation_error": c.money_held() - expected,
        "contract_conservation_error": c.money_held() - (c.money_in - c.money_out),
    }
