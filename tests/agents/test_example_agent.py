"""`testbed agent example` prints a complete agent of about 30 lines that loads as a trader
and trades: ZIP's quotes move towards profit after a trade and towards the price after none."""

import subprocess
import sys

import numpy as np

from testbed.agents.home import Forecast
from testbed.agents.host import trader_class
from testbed.agents.trader import Knowledge, MarketView
from testbed.ledger.transactions import Side
from testbed.market.params import MarketParams

P = MarketParams()


def test_the_example_prints_loads_and_learns(tmp_path):
    done = subprocess.run([sys.executable, "-m", "testbed", "agent", "example"],
                          capture_output=True, text=True, check=True, timeout=60)
    assert 25 <= len(done.stdout.splitlines()) <= 40
    (tmp_path / "my_agent.py").write_text(done.stdout)
    agent = trader_class(tmp_path / "my_agent.py")()
    rng = np.random.default_rng(0)

    def quote(pv_kw, last):
        knows = Knowledge(900, P, Forecast(1.0, pv_kw), 0, None, 0, MarketView(last))
        return agent.decide(knows, rng).order

    first = quote(3.0, None)
    assert first.side == Side.OFFER and first.energy_wh == 500
    assert first.price_per_kwh == round(P.feed_in_price_per_kwh * 1.2)
    after_sale = quote(3.0, 150)  # sold below the price: ask more
    assert after_sale.price_per_kwh > first.price_per_kwh
    bid = quote(0.0, 150)
    assert bid.side == Side.BID and bid.price_per_kwh == round(P.retail_price_per_kwh * 0.8)
    assert quote(0.0, 100).price_per_kwh < bid.price_per_kwh  # bought above: bid less
