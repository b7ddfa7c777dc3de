"""Traders by name: built-in strategies and agent files, for all homes or a seeded share; a bad
agent file is refused with its reason. And ZIP learns in the direction Cliff's rules say."""

import numpy as np
import pytest

from testbed.agents.home import Battery, Forecast, Home, Kind
from testbed.agents.host import trader_class
from testbed.agents.loading import StrategyChoice, parse_strategy, traders
from testbed.agents.strategies import BY_KIND
from testbed.agents.trader import Knowledge, MarketView
from testbed.agents.zip import Zip
from testbed.errors import InputError
from testbed.ledger.transactions import Side
from testbed.market.params import MarketParams

P = MarketParams()
T = 1_466_467_200


def _homes(n):
    kinds = [Kind.HOUSEHOLD, Kind.PV_OWNER, Kind.BATTERY_OWNER]
    return [Home(f"h{i}", i, kinds[i % 3], np.ones(4), np.zeros(4),
                 Battery(10_000, 3_000, 0) if i % 3 == 2 else None) for i in range(n)]


def test_choices_parse():
    assert parse_strategy("zip") == StrategyChoice("zip", 1.0)
    assert parse_strategy("a/b.py:0.25") == StrategyChoice("a/b.py", 0.25)
    assert str(parse_strategy("zip:0.5")) == "zip:0.5" and str(parse_strategy("zip")) == "zip"
    for bad, reason in (("greedy", "one of by_kind, zip"), ("zip:2", r"in \[0, 1\]"),
                        ("zip:half", "NAME:SHARE")):
        with pytest.raises(ValueError, match=reason):
            parse_strategy(bad)


def test_a_share_of_the_homes_seeded_each_its_own_instance():
    homes = _homes(10)
    mixed = traders(homes, StrategyChoice("zip", 0.5), seed=3)
    zips = [t for t in mixed if isinstance(t, Zip)]
    assert len(zips) == 5 and len({id(t) for t in zips}) == 5
    assert [i for i, t in enumerate(mixed) if not isinstance(t, Zip)] == [
        i for i, t in enumerate(traders(homes, StrategyChoice("zip", 0.5), seed=3))
        if not isinstance(t, Zip)]
    assert all(mixed[i] is BY_KIND[homes[i].kind] for i in range(10)
               if not isinstance(mixed[i], Zip))
    assert traders(homes, StrategyChoice(), 3) == tuple(BY_KIND[h.kind] for h in homes)


@pytest.mark.parametrize("source, reason", [
    ("x = 1\n", "found 0"),
    ("class A:\n    def decide(self, k, r): pass\nclass B(A): pass\n", "found 2"),
    ("import no_such_module_anywhere\n", "importing it failed: ModuleNotFoundError"),
    ("1/0\n", "ZeroDivisionError"),
])
def test_bad_agent_files_are_refused_with_their_reason(tmp_path, source, reason):
    path = tmp_path / "agent.py"
    path.write_text(source)
    with pytest.raises(InputError, match=reason):
        trader_class(path)
    with pytest.raises(InputError, match="no such file"):
        trader_class(tmp_path / "missing.py")


def _knows(pv_kw, last_price):
    return Knowledge(T, P, Forecast(1.0, pv_kw), 0, None, 0, MarketView(last_price, None))


def test_zip_sellers_ask_more_after_a_sale_and_less_after_none():
    rng = np.random.default_rng(0)
    seller = Zip()
    first = seller.decide(_knows(5.0, None), rng).order
    assert first.side == Side.OFFER and P.feed_in_price_per_kwh <= first.price_per_kwh
    sold = seller.decide(_knows(5.0, first.price_per_kwh + 20), rng).order  # it traded
    assert sold.price_per_kwh > first.price_per_kwh
    unsold = seller.decide(_knows(5.0, sold.price_per_kwh - 30), rng).order  # it did not
    assert unsold.price_per_kwh < sold.price_per_kwh


def test_zip_buyers_bid_less_after_a_purchase_and_more_after_none():
    rng = np.random.default_rng(1)
    buyer = Zip()
    first = buyer.decide(_knows(0.0, None), rng).order
    assert first.side == Side.BID and first.price_per_kwh <= P.retail_price_per_kwh
    bought = buyer.decide(_knows(0.0, first.price_per_kwh - 40), rng).order
    assert bought.price_per_kwh < first.price_per_kwh
    missed = buyer.decide(_knows(0.0, bought.price_per_kwh + 30), rng).order
    assert missed.price_per_kwh > bought.price_per_kwh
