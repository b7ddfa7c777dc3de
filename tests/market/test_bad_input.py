"""Every bad input is refused with a one-line reason and leaves the state root unchanged."""

from dataclasses import replace

import pytest

from testbed.agents.proposer import gated_clearing, settle
from testbed.errors import TestbedError
from testbed.ledger.state import Rejected
from testbed.ledger.transactions import (
    Clearing,
    Constraint,
    Deposit,
    Genesis,
    MeterReading,
    Order,
    Payment,
    RegisterParticipant,
    Role,
    Side,
    sign,
)
from testbed.market.contract import MarketContract

from .conftest import CHAIN_ID, VALIDATOR, Market, T, key

BID, OFFER = Side.BID, Side.OFFER
BEFORE_GATE = T - 360
GATE = T - 300
END = T + 900
STRANGER = key("stranger")


def refused(m: Market, signer, body, ts: int, reason: str) -> None:
    root = m.contract.state_root()
    with pytest.raises(Rejected) as excinfo:
        m.apply(signer, body, ts)
    message = str(excinfo.value)
    assert reason in message, message
    assert "\n" not in message
    assert m.contract.state_root() == root


@pytest.fixture
def m() -> Market:
    market = Market(["A", "B", "C"])
    market.order("A", BID, 1000, 250)
    market.order("C", OFFER, 800, 100)
    return market


@pytest.fixture
def cleared(m) -> Market:
    m.clear()
    return m


@pytest.fixture
def read(cleared) -> Market:
    cleared.read("A", 700, 0)
    cleared.read("C", 0, 800)
    return cleared


def A(m):
    return m.accounts["A"]


# --- orders ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "ts", "reason"),
    [
        (Order(T, BID, 100, 200), GATE, "after gate closure"),
        (Order(T, BID, 100, 200), END, "after gate closure"),
        (Order(T, BID, 4000, 200), BEFORE_GATE, "exceeds the balance"),  # 4000 Wh * 300 = 1200
        (Order(T + 1, BID, 100, 200), BEFORE_GATE, "not a multiple of 900"),
        (Order(T + 2 * 86_400, BID, 100, 200), BEFORE_GATE, "horizon"),
        (Order(T, 3, 100, 200), BEFORE_GATE, "unknown order side"),
        (Order(T, BID, 0, 200), BEFORE_GATE, "positive energy"),
        (Order(T, BID, 100_001, 200), BEFORE_GATE, "exceeds the limit"),
        (Order(T, BID, 100, 79), BEFORE_GATE, "outside [feed-in 80, retail 300]"),
        (Order(T, BID, 100, 301), BEFORE_GATE, "outside [feed-in 80, retail 300]"),
        (Order(T, OFFER, 100, 200), BEFORE_GATE, "both buy and sell"),
    ],
)
def test_bad_orders(m, body, ts, reason):
    refused(m, A(m), body, ts, reason)


def test_order_from_unknown_participant(m):
    refused(m, STRANGER, Order(T, BID, 100, 200), BEFORE_GATE,
            "Order from an unregistered key")


def test_order_after_clearing(cleared):
    refused(cleared, A(cleared), Order(T, BID, 100, 200), BEFORE_GATE, "after gate closure")


def test_negative_quantities_cannot_even_be_signed(m):
    with pytest.raises(TestbedError, match="is not an integer in 0.."):
        sign(Order(T, BID, -5, 200), A(m), 0, CHAIN_ID)
    with pytest.raises(TestbedError, match="is not an integer in 0.."):
        sign(MeterReading(A(m).public, T, -1, 0), m.meters["A"], 0, CHAIN_ID)


# --- registration, deposits, genesis ---------------------------------------------------------


def test_registration_and_deposit_refusals(m):
    meter_b = m.meters["B"].public
    new, view = STRANGER.public, m.views["A"].public

    def register(account, meter, role=Role.CONSUMER, view_key=view):
        return RegisterParticipant(account, 9, role, meter, view_key)

    refused(m, A(m), register(new, key("new").public), 0,
            "RegisterParticipant from a home")  # only the operator registers
    refused(m, m.meters["A"], register(new, key("new").public), 0,
            "only the operator may send it")
    refused(m, VALIDATOR, register(A(m).public, key("new").public), 0, "already registered")
    refused(m, VALIDATOR, register(meter_b, key("new").public), 0, "is already a meter")
    refused(m, VALIDATOR, register(new, meter_b), 0, "is already a meter")
    refused(m, VALIDATOR, register(new, A(m).public), 0, "is already a home")
    refused(m, VALIDATOR, register(new, new), 0, "is taken or invalid")
    refused(m, VALIDATOR, register(new, key("new").public, role=9), 0, "unknown role")
    refused(m, VALIDATOR, register(new, bytes(32)), 0, "invalid")
    refused(m, VALIDATOR, register(new, key("new").public, view_key=bytes(32)), 0,
            "needs a view key")
    refused(m, A(m), Deposit(A(m).public, 10), 0, "Deposit from a home")
    refused(m, VALIDATOR, Deposit(STRANGER.public, 10), 0, "unknown participant")
    refused(m, VALIDATOR, Deposit(A(m).public, 0), 0, "must be positive")
    refused(m, VALIDATOR, Deposit(A(m).public, 2**62), 0, "above")
    refused(m, VALIDATOR, Genesis((VALIDATOR.public,), b""), 0, "already initialised")


def market_registration() -> RegisterParticipant:
    return RegisterParticipant(STRANGER.public, 1, Role.CONSUMER, key("x").public,
                               key("x").public)


def test_nothing_before_genesis():
    contract = MarketContract()
    market = Market.__new__(Market)
    market.chain, market.contract, market.nonces = None, contract, {STRANGER.public: 0}
    refused(market, STRANGER, market_registration(), 0, "no genesis")


def test_bad_genesis_parameters():
    market = Market.__new__(Market)
    market.chain, market.contract = None, MarketContract()
    market.nonces = {VALIDATOR.public: 0}
    refused(market, VALIDATOR, Genesis((VALIDATOR.public,), b"\x01\x02"), 0,
            "market parameters")


# --- clearings -------------------------------------------------------------------------------


def test_clearing_refusals(m):
    good = gated_clearing(m.contract, T)
    trade = good.trades[0]
    refused(m, A(m), good, GATE, "Clearing from a home")
    refused(m, VALIDATOR, good, BEFORE_GATE, "before gate closure")
    refused(m, VALIDATOR, replace(good, price_per_kwh=good.price_per_kwh + 1), GATE,
            "the book clears at")
    refused(m, VALIDATOR, replace(good, trades=()), GATE, "0 trades")
    refused(m, VALIDATOR, replace(good, trades=(replace(trade, energy_wh=799),)), GATE,
            "differs from the book")
    refused(m, VALIDATOR, replace(good, trades=(replace(trade, granted_wh=801),)), GATE,
            "above its")
    refused(m, VALIDATOR, replace(good, trades=(replace(trade, granted_wh=700),)), GATE,
            "without a binding constraint")
    bound = Constraint(1, "line 3", 104_000, 100_000)
    refused(m, VALIDATOR, replace(good, trades=(replace(trade, constraint=bound),)), GATE,
            "granted in full")
    refused(m, VALIDATOR, replace(good, interval=T + 1), GATE, "not a multiple")
    # A curtailed trade with its constraint is fine, and releases escrow accordingly.
    m.apply(VALIDATOR, replace(good, trades=(replace(trade, granted_wh=400,
                                                     constraint=bound),)), GATE)
    assert m.escrow("A") == 120 and m.escrow("C") == 40  # 400 Wh at retail / at the penalty
    refused(m, VALIDATOR, good, GATE, "already cleared")


# --- readings --------------------------------------------------------------------------------


def test_reading_refusals(cleared):
    m = cleared
    body = MeterReading(A(m).public, T, 500, 0)
    meter = m.meters["A"]
    refused(m, meter, MeterReading(STRANGER.public, T, 1, 0), END, "unknown participant")
    refused(m, m.meters["B"], body, END, "is bound to home")  # a reading for another home
    refused(m, A(m), body, END, "MeterReading from a home")
    refused(m, meter, body, END - 1, "which ends at")
    refused(m, meter, body, END + 900, "after its deadline")
    refused(m, meter, replace(body, interval=T + 5), END, "not a multiple")
    refused(m, meter, replace(body, imported_wh=100_001), END, "exceeds the limit")
    refused(m, meter, replace(body, exported_wh=100_001), END, "exceeds the limit")
    m.apply(meter, body, END)
    refused(m, meter, replace(body, imported_wh=1), END, "second reading")


def test_reading_after_settlement(read):
    read.settle()
    refused(read, read.meters["B"], MeterReading(read.accounts["B"].public, T, 1, 0), END,
            "settlement")


# --- settlements -----------------------------------------------------------------------------


def test_settlement_refusals(read):
    m = read
    good = settle(m.contract, T).body
    payment = good.payments[0]
    refused(m, A(m), good, END, "Settlement from a home")
    refused(m, VALIDATOR, good, END - 1, "before its end")
    refused(m, VALIDATOR, replace(good, interval=T + 900), END, "not cleared")
    refused(m, VALIDATOR, replace(good, payments=good.payments[1:]), END, "differ")
    more = replace(payment, amount_units=payment.amount_units + 1)
    refused(m, VALIDATOR, replace(good, payments=(more, *good.payments[1:])), END, "differ")
    extra = Payment(A(m).public, m.accounts["C"].public, 1, 1)
    refused(m, VALIDATOR, replace(good, payments=(*good.payments, extra)), END, "differ")
    m.apply(VALIDATOR, good, END)
    refused(m, VALIDATOR, good, END, "not cleared (or already settled)")


def test_settlement_waits_for_readings_until_the_deadline(cleared):
    m = cleared
    m.read("A", 700, 0)
    early = settle(m.contract, T).body
    refused(m, VALIDATOR, early, END, "1 readings missing")
    m.apply(VALIDATOR, early, END + 900)  # after the deadline the missing one counts as zero
    assert m.contract.money_held() == m.contract.money_in - m.contract.money_out


def test_unknown_body_type(m):
    class Foreign:
        TYPE = 99

    tx = sign(Clearing(T, 0, ()), VALIDATOR, 99, CHAIN_ID)
    object.__setattr__(tx, "body", Foreign())
    root = m.contract.state_root()
    with pytest.raises(Rejected, match="not a market transaction"):
        m.contract.apply(tx, None)
    assert m.contract.state_root() == root
