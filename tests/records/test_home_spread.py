"""The spread over the homes: per interval the quantiles of what each home traded, homes that
did not trade counted as zero, and the homes the grid cut most."""

import numpy as np
import pandas as pd

from testbed.records.home_spread import QUANTILES_PERCENT, WORST_HOMES, HomeSpread

T0, T1 = "2016-06-21T10:00:00Z", "2016-06-21T10:15:00Z"


def trade(start, seller, buyer, energy, granted):
    return {"interval_start": start, "seller": seller, "buyer": buyer, "energy_kwh": energy,
            "granted_kwh": granted}


def test_each_interval_is_the_quantiles_over_every_home_with_zero_for_those_not_trading():
    spread = HomeSpread(homes=10)
    spread.add([trade(T0, "h1", "h2", 2.0, 2.0), trade(T0, "h1", "h3", 1.0, 0.5)])
    spread.add([trade(T1, "h4", "h5", 1.0, "")])  # rejected: nothing granted
    record = spread.as_record()
    assert record["interval_start"] == [pd.Timestamp(T0).value // 10**6,
                                        pd.Timestamp(T1).value // 10**6]
    first = np.array([2.5, -2.0, -0.5] + [0.0] * 7)
    expected = np.percentile(first, QUANTILES_PERCENT)
    assert np.allclose([band[0] for band in record["net_sold_kwh"]], expected)
    assert [band[1] for band in record["net_sold_kwh"]] == [0.0] * len(QUANTILES_PERCENT)
    # not granted: 0.5 kWh to h1 and h3, 1 kWh to h4 and h5
    assert record["worst_curtailed"] == [["h4", 1.0], ["h5", 1.0], ["h1", 0.5], ["h3", 0.5]]


def test_rows_read_back_from_trades_csv_give_what_the_recorders_rows_gave():
    rows = [trade(T0, f"h{i}", f"h{i + 1}", 1.0, 0.9) for i in range(30)] + [
        trade(T1, "h3", "h1", 0.4, 0.4)]
    live, read = HomeSpread(40), HomeSpread(40)
    live.add(rows)
    read.add(pd.DataFrame(rows).assign(interval_start=lambda f: pd.to_datetime(
        f["interval_start"], utc=True)).to_dict("records"))
    assert live.as_record() == read.as_record()
    assert len(live.as_record()["worst_curtailed"]) == WORST_HOMES
