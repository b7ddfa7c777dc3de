"""The state root commits to every part of the state; copies are independent."""

from dataclasses import replace

from testbed.ledger.transactions import Side
from testbed.market.params import MarketParams

from .conftest import Market, T


def busy_market() -> Market:
    m = Market(["A", "B", "C"])
    m.order("A", Side.BID, 1000, 250)
    m.order("C", Side.OFFER, 800, 100)
    m.order("B", Side.BID, 300, 200, interval=T + 900)
    m.clear()
    m.read("A", 700, 0)
    return m


def test_every_part_of_the_state_moves_the_root():
    m = busy_market()
    c = m.contract
    root = c.state_root()
    a = m.accounts["A"].public
    order_id = next(iter(c.orders))
    reading_key = next(iter(c.readings))
    mutations = [
        lambda x: setattr(x, "params", MarketParams(retail_price_per_kwh=301)),
        lambda x: setattr(x, "seq", x.seq + 1),
        lambda x: setattr(x, "money_in", x.money_in + 1),
        lambda x: setattr(x, "money_out", x.money_out + 1),
        lambda x: setattr(x, "settled_digest", bytes([1]) * 32),
        lambda x: x.participants.__setitem__(a, replace(x.participants[a], balance_units=1)),
        lambda x: x.orders.__setitem__(order_id, replace(x.orders[order_id], locked_units=1)),
        lambda x: x.cleared.__setitem__(T, replace(x.cleared[T], price_per_kwh=1)),
        lambda x: x.readings.__setitem__(
            reading_key, replace(x.readings[reading_key], exported_wh=1)),
        lambda x: x.readings.pop(reading_key),
    ]
    for mutate in mutations:
        other = c.copy()
        mutate(other)
        assert other.state_root() != root
    assert c.state_root() == root  # the copies never touched the original


def test_a_copy_is_an_independent_snapshot():
    m = busy_market()
    snapshot = m.contract.copy()
    m.read("C", 0, 800)
    m.settle()
    assert snapshot.state_root() != m.contract.state_root()
    assert T in snapshot.cleared and T not in m.contract.cleared
