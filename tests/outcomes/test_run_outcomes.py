"""A simulated run against its baseline: with no trades they are the same run; with trades (and
grid fees by electrical distance) the sums close, each home's bill to the unit from the
ledger's own records, the grid fees to the unit, the feeder's energy to the Wh against
pandapower's losses."""

from __future__ import annotations

import copy
import csv
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime

import pandapower as pp
import pytest
from pandapower.pf.runpp_3ph import runpp_3ph

from grid_models import load_feeder
from grid_models.unbalanced import reference_net
from testbed.ledger.chain import stored_blocks
from testbed.ledger.keys import DEV_PASSPHRASE, ViewKey
from testbed.ledger.sealing import Keyring
from testbed.ledger.store import open_store
from testbed.ledger.transactions import (
    Clearing,
    Order,
    OrderCommitment,
    RegisterParticipant,
    SealedReading,
    Settlement,
)
from testbed.market import private
from testbed.market.params import UTILITY, PaymentKind, cost
from testbed.neighbourhood import build
from testbed.outcomes.key_figures import BASELINE, SIDE_FIGURES
from testbed.run import run_scenario
from testbed.run.compose import AUDITOR_VIEW_KEY, market_params
from testbed.scenario import load_scenario

pytestmark = pytest.mark.slow  # 20 s or more: the quick lane skips it


def simulated(tmp_path_factory, name, start, hours, grid_fee="none"):
    """The default neighbourhood without its physical homes, simulated from ``start``."""
    s = load_scenario()
    s = replace(s, physical=(), time=replace(s.time, start=start, duration_hours=hours),
                market=replace(s.market, grid_fee=grid_fee))
    out = tmp_path_factory.mktemp(name)
    return s, out, run_scenario(s, out, paced=False)


def rows(path):
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    # no sun and no prices yet: every home bids (batteries charge), nobody offers
    return simulated(tmp_path_factory, "night", datetime(2016, 7, 21, 0, 0, tzinfo=UTC), 1.0)


@pytest.fixture(scope="module")
def noon(tmp_path_factory):
    return simulated(tmp_path_factory, "noon", datetime(2016, 7, 21, 11, 0, tzinfo=UTC), 2.0,
                     grid_fee="distance:20")


def test_with_no_trades_the_baseline_is_the_run(night):
    _, out, summary = night
    assert summary["trades"] == 0 and summary["intervals"] == 4
    assert summary["self_consumption_percent"] is None  # no sun, no PV to use
    assert summary["self_sufficiency_percent"] == 0  # and the batteries only charge
    for name in SIDE_FIGURES:
        run, baseline = summary[name], summary[BASELINE + name]
        assert run == baseline if run is None else run == pytest.approx(baseline, abs=1e-9)
    assert summary["homes_better_off"] == summary["homes_worse_off"] == 0
    assert summary["largest_loss_units"] == 0 and summary["largest_loss_home"] is None
    for home in rows(out / "homes.csv"):
        assert home["bill_units"] == home["baseline_bill_units"]
    for interval in rows(out / "intervals.csv"):
        for column in ("upstream_import_kwh", "upstream_export_kwh"):
            assert float(interval[column]) == pytest.approx(
                float(interval[BASELINE + column]), abs=1e-9)


def ledger_records(path):
    """Per home (registration order) and interval, from the ledger's own transactions: meter
    readings (sealed: opened with the run's auditor view key), granted purchases and sales,
    and the money paid on chain."""
    auditor = private.RecordReader(
        Keyring([ViewKey.load(path.parent / AUDITOR_VIEW_KEY, DEV_PASSPHRASE)]))
    home, owner, meter_of = {}, {}, {}
    readings, bought, sold = {}, defaultdict(int), defaultdict(int)
    paid, fees = defaultdict(int), 0
    store = open_store(path, readonly=True)
    try:
        for certified in stored_blocks(store):
            for tx in certified.block.transactions:
                body = tx.body
                if isinstance(body, RegisterParticipant):
                    home[body.account] = len(home)
                    meter_of[body.meter_key] = body.account
                elif isinstance(body, Order | OrderCommitment):
                    owner[tx.txid] = tx.sender
                elif isinstance(body, Clearing):
                    for t in body.trades:
                        bought[home[owner[t.bid]], body.interval] += t.granted_wh
                        sold[home[owner[t.offer]], body.interval] += t.granted_wh
                elif isinstance(body, SealedReading):
                    account = meter_of[tx.sender]
                    read = auditor.reading(tx, account)
                    readings[home[account], body.interval] = (read.imported_wh,
                                                              read.exported_wh)
                elif isinstance(body, Settlement):
                    for p in body.payments:
                        fees += p.amount_units if p.kind == PaymentKind.GRID_FEE else 0
                        if p.payer != UTILITY:
                            paid[home[p.payer]] += p.amount_units
                        if p.payee != UTILITY:
                            paid[home[p.payee]] -= p.amount_units
    finally:
        store.close()
    return readings, bought, sold, paid, fees


def test_sums_close_to_the_unit_and_to_the_wh(noon):
    s, out, summary = noon
    assert summary["trades"] > 0 and summary["homes_better_off"] > 0
    readings, bought, sold, paid, fees = ledger_records(out / "ledger.sqlite")
    assert summary["grid_fees_total"] == fees > 0  # in the bills below, as homes paid them
    assert summary["money_conservation_error"] == 0
    params = market_params(s)

    # money: each home's bill is its payments on chain plus its metered energy beyond its
    # granted positions at retail and feed-in; together they are the summary's total
    bills = dict(paid)
    for (home, interval), (imported, exported) in readings.items():
        bills[home] = bills.get(home, 0) + cost(
            imported - min(imported, bought[home, interval]), params.retail_price_per_kwh
        ) - cost(exported - min(exported, sold[home, interval]), params.feed_in_price_per_kwh)
    homes = rows(out / "homes.csv")
    assert [int(h["bill_units"]) for h in homes] == [bills[i] for i in range(len(homes))]
    assert summary["bills_total"] == sum(bills.values())
    assert summary["baseline_bills_total"] == sum(int(h["baseline_bill_units"]) for h in homes)

    # energy: what came through the transformer is what the meters took, plus the feeder's
    # losses (pandapower's, runpp_3ph's for an unbalanced feeder, for the homes' metered net
    # consumption and profiled reactive power)
    feeder = load_feeder(s.grid.feeder)
    hood = build(s.households, (), feeder, s.start_s, 900, s.intervals, s.source)
    net = copy.deepcopy(feeder.net)
    net.sgen["p_mw"] = net.sgen["q_mvar"] = 0.0
    upstream_wh = metered_wh = losses_wh = 0.0
    for k, interval in enumerate(rows(out / "intervals.csv")):
        start = s.start_s + 900 * k
        net_wh = [readings[i, start][0] - readings[i, start][1] for i in range(len(homes))]
        load_p, load_q = [wh / 250 / 1000 for wh in net_wh], hood.load_q_kvar[k] / 1000
        if s.grid.phases == "unbalanced":
            ref = reference_net(net, hood.phases, load_p, load_q)
            runpp_3ph(ref, numba=False)
            losses_mw = sum(ref[table][f"pl_{p}_mw"].sum() for table in ("res_line_3ph",
                            "res_trafo_3ph") for p in "abc")
        else:
            net.load["p_mw"], net.load["q_mvar"] = load_p, load_q
            pp.runpp(net)
            losses_mw = net.res_line["pl_mw"].sum() + net.res_trafo["pl_mw"].sum()
        upstream_wh += 1000 * (float(interval["upstream_import_kwh"])
                               - float(interval["upstream_export_kwh"]))
        metered_wh += sum(net_wh)
        losses_wh += losses_mw * 1e6 / 4
    assert abs(upstream_wh - metered_wh - losses_wh) < 1.0
    assert summary["upstream_import_kwh"] - summary["upstream_export_kwh"] == pytest.approx(
        upstream_wh / 1000, abs=1e-3)
