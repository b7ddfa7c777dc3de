"""Gate closure with an external home: what its own process did not send in time is no order,
recorded; a sealed order it never reveals holds the clearing only until the reveal window
closes, then forfeits (the contract's rule), money conserved."""

from testbed.interval import external
from testbed.ledger.transactions import OrderReveal, Side
from testbed.market.contract import MarketContract
from testbed.market.params import MarketParams
from tests.market.conftest import Market, T


class Replica:
    """The market as the run's replica holds it: the external home's transactions appear in
    it as the chain commits them (here, before the wait; nothing else comes)."""

    def __init__(self, market: Market) -> None:
        self.market = market

    @property
    def contract(self) -> MarketContract:
        return self.market.contract

    def watch(self, done, wait_s: float) -> bool:
        return done(self.contract)


def market() -> tuple[Market, dict[int, bytes]]:
    m = Market(["run", "ext"], MarketParams(unrevealed_penalty_units=50), deposit=10_000,
               private=True)
    return m, {1: m.accounts["ext"].public}


def test_an_external_home_that_sent_nothing_is_recorded_and_the_clearing_is_at_gate():
    m, ext = market()
    m.order("run", Side.BID, 500, 200)
    missing = external.await_orders(Replica(m), 0, T, ext, wait_s=0.01)
    assert [(r.home, r.interval) for r in missing] == [(1, T)]
    assert "no order of the external agent" in missing[0].reason
    assert not external.externally_sealed(m.contract, T, ext)


def test_a_sealed_order_never_revealed_is_recorded_and_cleared_after_the_window():
    m, ext = market()
    m.order("run", Side.BID, 500, 200)
    m.order("ext", Side.OFFER, 500, 100)
    ledger = Replica(m)
    assert external.await_orders(ledger, 0, T, ext, wait_s=0.01) == ()
    assert external.externally_sealed(m.contract, T, ext)
    gate = T - m.params.gate_closure_seconds
    run_reveal = [r for r in m.pending() if m.reveals[r.order][0] == "run"]
    m.apply(m.accounts["run"], OrderReveal(tuple(run_reveal)), gate)  # the run's own homes
    for r in run_reveal:
        del m.reveals[r.order]
    missing = external.await_reveals(ledger, 0, T, ext, wait_s=0.01)
    assert [r.home for r in missing] == [1] and "no reveal" in missing[0].reason
    at = external.clearing_time(m.contract, T)
    assert at == gate + m.params.reveal_seconds  # the window closed: it may clear now
    m.reveals.clear()  # the external home's salt is not the run's to relay
    body = m.clear(at=at)
    assert body.trades == ()  # the offer stayed sealed: nothing to match the bid
    c = m.contract
    assert c.money_held() == c.money_in - c.money_out


def test_revealed_in_time_the_clearing_is_at_gate():
    m, ext = market()
    m.order("ext", Side.OFFER, 500, 100)
    m.order("run", Side.BID, 500, 200)
    m.reveal()  # each home its own, at gate closure
    assert external.await_reveals(Replica(m), 0, T, ext, wait_s=0.01) == ()
    assert external.clearing_time(m.contract, T) == T - m.params.gate_closure_seconds
    assert len(m.clear().trades) == 1
