"""A home's book of the chain: what it learns holding no view key but its own (its balance
from the public records, its sealed readings opened with its key, the clearing prices) agrees
with the contract the validators replay."""

from testbed.agents.book import HomeBook
from testbed.ledger.chain import stored_blocks
from testbed.ledger.store import open_store
from testbed.ledger.transactions import Side
from testbed.market.params import MarketParams
from tests.market.conftest import Market, T


def test_the_book_of_a_home_agrees_with_the_contract(tmp_path):
    path = tmp_path / "chain.sqlite"
    m = Market(["A", "B"], MarketParams(), deposit=100_000, chain_path=str(path), private=True)
    m.order("A", Side.OFFER, 800, 150)
    m.order("B", Side.BID, 800, 250)
    body = m.clear()
    m.read("A", 0, 700)
    m.read("B", 800, 0)
    m.settle()
    balance = m.balance("A")
    m.chain.close()
    book = HomeBook(m.accounts["A"].public, m.views["A"])
    store = open_store(str(path), readonly=True)
    try:
        for certified in stored_blocks(store):
            book.feed(certified.block)
    finally:
        store.close()
    assert book.params.privacy == m.params.privacy
    assert book.last_reading == (0, 700)  # its own sealed reading, opened with its key
    assert book.trades == 1 and book.traded_wh == 800
    assert book.prices == [body.price_per_kwh] and book.locked == {}
    knows = book.knowledge(T + 900)
    assert knows.market.last_price == body.price_per_kwh
    assert knows.forecast.pv_kw > 0 and knows.forecast.load_kw == 0
    assert book.balance_units == balance  # deposits and payments, public: to the unit
    assert book.nonce == 1  # its one transaction: the commitment
