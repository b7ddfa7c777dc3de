"""The sweep's plots take the columns the table has: fields the summary gains (violations by
element kind, curtailment by cause) are plotted without a change to the plots."""

import pandas as pd

from testbed.sweep.plots import hosting_figure, market_figure, plot


def _table(**extra):
    rows = []
    for feeder in ("a", "b"):
        for pv in (0.2, 0.6):
            for battery in (0.0, 0.3):
                rows.append({"cell": f"{feeder}{pv}{battery}", "feeder": feeder, "pv_share": pv,
                             "battery_share": battery, "days": 2.0, "error": None,
                             "energy_traded_kwh": 100 * pv, "energy_delivered_kwh": 90 * pv,
                             "energy_curtailed_kwh": 10 * pv, "price_mean": 200 - 50 * pv,
                             "price_min": 100.0, "price_max": 300.0, "vm_max_pu": 1 + pv / 10,
                             "vm_limits": [0.9, 1.03], "ledger_valid": True,
                             **{k: v * pv for k, v in extra.items()}})
    rows.append({"cell": "failed", "feeder": "c", "pv_share": 0.4, "error": "no profiles"})
    return pd.DataFrame(rows)


def _labels(fig):
    return [(ax.get_title(), sorted(t.get_text() for t in ax.get_legend().get_texts()))
            for ax in fig.axes]


def test_hosting_capacity_per_feeder_with_the_columns_present():
    table = _table(**{"intervals_with_violations.bus": 4, "intervals_with_violations.line": 2,
                      "energy_curtailed_kwh.volt_watt": 3})
    panels = _labels(hosting_figure(table))
    assert len(panels) == 2 * 3  # two feeders (the failed cell's third is left out), 3 panels
    title, legend = panels[0]
    assert title == "a\nIntervals with violations per day"
    assert legend == sorted(f"intervals_with_violations.{k}, battery share {b}"
                            for k in ("bus", "line") for b in ("0", "0.3"))
    assert panels[1][0].endswith("Curtailed energy (kWh per day)")
    assert {label.split(",")[0] for label in panels[1][1]} == {
        "energy_curtailed_kwh", "energy_curtailed_kwh.volt_watt"}
    assert "limit 1.03 pu" in panels[2][1]
    line = hosting_figure(table).axes[1].get_lines()[0]  # per simulated day: 10 * pv / 2 days
    assert list(line.get_ydata()) == [1.0, 3.0]


def test_without_violation_columns_the_panel_is_left_out(tmp_path):
    titles = [t for t, _ in _labels(hosting_figure(_table()))]
    assert not any("violations" in t for t in titles) and len(titles) == 2 * 2
    assert _labels(market_figure(_table()))[1][0] == "Clearing price"
    written = plot(_table(), tmp_path)
    assert [p.name for p in written] == ["hosting_capacity.png", "market.png"]


def test_no_successful_cell_no_plot(tmp_path):
    table = _table()
    assert plot(table[table["cell"] == "failed"], tmp_path) == []
