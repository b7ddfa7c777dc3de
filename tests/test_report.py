"""The run report from a synthetic run folder written to the documented format: the PNG
figures, and the page's model (the page itself is opened in Chromium in tests/dashboard)."""

import csv
import json
import math
import re
from datetime import UTC, datetime, timedelta

import pytest

from testbed.errors import TestbedError
from testbed.records.columns import FILES
from testbed.records.summary import FIELDS
from testbed.report import PLOTS, build_report

INTERVAL_COLUMNS = [
    "interval_start", "clearing_price", "bid_kwh", "offer_kwh", "traded_kwh", "granted_kwh",
    "curtailed_kwh", "delivered_kwh", "vm_min_pu", "vm_max_pu", "max_line_loading_percent",
    "commit_latency_max_ms",
]
TRADE_COLUMNS = [
    "interval_start", "seller", "buyer", "energy_kwh", "granted_kwh", "delivered_kwh", "price",
    "status", "constraint_kind", "constraint_element", "constraint_value", "constraint_limit",
]
HOME_COLUMNS = [
    "home", "bus", "role", "pv_kwp", "battery_kwh", "physical", "sold_kwh", "bought_kwh",
    "delivered_sold_kwh", "delivered_bought_kwh", "net_payment",
]
MEASUREMENT_COLUMNS = [
    "time_s", "device", "p_kw", "q_kvar", "v_v", "energy_import_kwh", "energy_export_kwh",
]
START = datetime(2016, 6, 21, 10, 0, tzinfo=UTC)


def write_csv(path, columns, rows):
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


def make_run(folder, intervals=8, homes=6, interval_s=900):
    """A sunny-day run: sellers are the even homes, two physical, some trades curtailed."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"home-{i:02d}" for i in range(1, homes + 1)]
    sellers, buyers = names[::2], names[1::2]
    interval_rows, trade_rows = [], []
    sold = dict.fromkeys(names, 0.0)
    bought = dict.fromkeys(names, 0.0)
    for k in range(intervals):
        start = (START + timedelta(seconds=k * interval_s)).isoformat().replace("+00:00", "Z")
        sun = max(0.0, math.sin(math.pi * (k + 0.5) / intervals))
        vm_max = 1.02 + 0.09 * sun
        trades = []
        for s, (seller, buyer) in enumerate(zip(sellers, buyers)):
            energy = round(0.4 * sun + 0.05 * s, 3)
            status, kind, element, value, limit, granted = "accepted", "", "", "", "", energy
            if vm_max > 1.1 and s == 0:
                status, kind, element = "curtailed", "voltage_high", "bus 7"
                value, limit, granted = round(vm_max, 4), 1.1, round(energy / 10, 3)
            elif k == intervals // 2 and s == 1:
                status, kind, element = "rejected", "line_loading", "line 12"
                value, limit, granted = 104.0, 100.0, 0.0
            trades.append({
                "interval_start": start, "seller": seller, "buyer": buyer, "energy_kwh": energy,
                "granted_kwh": granted, "delivered_kwh": round(granted * 0.97, 3),
                "price": 0.21, "status": status, "constraint_kind": kind,
                "constraint_element": element, "constraint_value": value,
                "constraint_limit": limit,
            })
            sold[seller] += energy
            bought[buyer] += energy
        traded = sum(t["energy_kwh"] for t in trades)
        granted = sum(t["granted_kwh"] for t in trades)
        interval_rows.append({
            "interval_start": start, "clearing_price": round(0.25 - 0.08 * sun, 4),
            "bid_kwh": round(traded * 1.3, 3), "offer_kwh": round(traded * 1.1, 3),
            "traded_kwh": round(traded, 3), "granted_kwh": round(granted, 3),
            "curtailed_kwh": round(traded - granted, 3),
            "delivered_kwh": round(sum(t["delivered_kwh"] for t in trades), 3),
            "vm_min_pu": round(0.97 - 0.01 * (1 - sun), 4), "vm_max_pu": round(vm_max, 4),
            "max_line_loading_percent": round(40 + 55 * sun, 2),
            "commit_latency_max_ms": round(20 + 30 * sun, 3),
        })
        trade_rows += trades
    home_rows = [{
        "home": name, "bus": i + 3, "role": "prosumer" if name in sellers else "consumer",
        "pv_kwp": 5.0 if name in sellers else 0.0, "battery_kwh": 0.0,
        "physical": "true" if i in (0, 1) else "false",
        "sold_kwh": round(sold[name], 3), "bought_kwh": round(bought[name], 3),
        "delivered_sold_kwh": round(sold[name] * 0.9, 3),
        "delivered_bought_kwh": round(bought[name] * 0.9, 3),
        "net_payment": round(0.21 * (sold[name] - bought[name]), 4),
    } for i, name in enumerate(names)]
    measurement_rows = [{
        "time_s": t, "device": device, "p_kw": round(sign * (2 + math.sin(t / 5)), 3),
        "q_kvar": 0.1, "v_v": round(230 + 3 * math.sin(t / 7), 2),
        "energy_import_kwh": 0.0, "energy_export_kwh": 0.0,
    } for t in range(60) for device, sign in (("home-01/inverter", -1), ("home-02/meter", 1))]
    write_csv(folder / "intervals.csv", INTERVAL_COLUMNS, interval_rows)
    write_csv(folder / "trades.csv", TRADE_COLUMNS, trade_rows)
    write_csv(folder / "homes.csv", HOME_COLUMNS, home_rows)
    write_csv(folder / "measurements.csv", MEASUREMENT_COLUMNS, measurement_rows)
    (folder / "instruments.log").write_text("t=0.000 home-01/inverter SOUR:POW -2.0\n")
    prices = [r["clearing_price"] for r in interval_rows]
    summary = {
        "scenario": "synthetic", "start": START.isoformat(), "interval_s": interval_s,
        "participants": homes, "intervals": intervals, "orders": 2 * len(trade_rows),
        "trades": len(trade_rows),
        "energy_traded_kwh": sum(r["traded_kwh"] for r in interval_rows),
        "energy_delivered_kwh": sum(r["delivered_kwh"] for r in interval_rows),
        "energy_curtailed_kwh": sum(r["curtailed_kwh"] for r in interval_rows),
        "price_min": min(prices), "price_mean": sum(prices) / len(prices),
        "price_max": max(prices), "payments_total": 12.5, "money_conservation_error": 0.0,
        "blocks": intervals + 1, "ledger_valid": True,
        "vm_min_pu": min(r["vm_min_pu"] for r in interval_rows),
        "vm_max_pu": max(r["vm_max_pu"] for r in interval_rows),
        "max_line_loading_percent": max(r["max_line_loading_percent"] for r in interval_rows),
        "step_jitter_p50_ms": 0.4, "step_jitter_p99_ms": 2.1, "deadline_misses": 0,
        "vm_limits": [0.9, 1.1], "max_line_loading_limit": 100.0,
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    return folder


def read_rows(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def model(page):
    """The page's model, the JSON inside it."""
    return json.loads(re.search(r'<script type="application/json" id="model">(.*?)</script>',
                                page, re.DOTALL).group(1))


def images(page):
    return {f["image"] for f in model(page)["figures"] if f["image"]}


def notes(page):
    return {f["note"] for f in model(page)["figures"]} | set(model(page)["notes"].values())


def test_full_run_gives_every_plot_and_a_page_that_shows_them(tmp_path):
    run = make_run(tmp_path / "run")
    index = build_report(run)
    assert index == run / "report" / "index.html"
    page = index.read_text()
    assert images(page) == set(PLOTS)
    for name in PLOTS:
        data = (index.parent / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000, name
    assert {p.name for p in index.parent.glob("*.png")} == set(PLOTS)
    summary = json.loads((run / "summary.json").read_text())
    shown = model(page)
    assert shown["summary"] == summary
    assert shown["schema"]["fields"] == [[f.key, f.label] for f in FIELDS]
    assert set(shown["schema"]["files"]) == {spec.name for spec in FILES}
    assert shown["tables"]["intervals.csv"]["clearing_price"] == [
        float(r["clearing_price"]) for r in read_rows(run / "intervals.csv")]
    assert shown["tables"]["intervals.csv"]["interval_start"][1] - shown["tables"][
        "intervals.csv"]["interval_start"][0] == 900_000  # milliseconds, for the date axes
    assert shown["run"]["homes"][0] == {"name": "home-01", "bus": 3, "physical": True}
    # offline: every script and style is a file beside the page, from an installed package
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(not s.startswith(("http:", "https:", "//")) for s in sources)
    for source in sources:
        if source != "data:,":
            assert (index.parent / source).stat().st_size > 0, source
    assert (index.parent / "assets" / "plotly.min.js").stat().st_size > 1_000_000
    cut = shown["curtailment"]
    assert [e["element"] for e in cut["elements"]][:2] == ["bus 7", "line 12"]  # energy lost
    assert cut["elements"][0]["kind"] == "voltage_high" and cut["elements"][1]["rejected"] == 1


def test_missing_optional_data_leaves_notes_and_no_stale_plots(tmp_path):
    run = make_run(tmp_path / "run")
    build_report(run)
    (run / "measurements.csv").unlink()
    lines = (run / "intervals.csv").read_text().splitlines()
    cleared_nothing = [lines[0]] + [
        ",".join(["" if i == 1 else v for i, v in enumerate(line.split(","))])
        for line in lines[1:]]
    (run / "intervals.csv").write_text("\n".join(cleared_nothing) + "\n")
    rows = read_rows(run / "trades.csv")
    for row in rows:
        row.update(status="accepted", constraint_kind="", constraint_element="")
    write_csv(run / "trades.csv", TRADE_COLUMNS, rows)

    page = build_report(run).read_text()
    report = run / "report"
    assert images(page) == {"market.png", "homes.png", "grid.png", "ledger.png"}
    assert not (report / "measurements.png").exists()
    assert not (report / "curtailment.png").exists()
    assert "no measurements.csv in the run folder" in notes(page)
    assert f"none: all {len(rows)} trades were accepted in full" in notes(page)


def test_a_run_from_before_commit_latencies_gets_a_note(tmp_path):
    run = make_run(tmp_path / "run")
    build_report(run)
    lines = (run / "intervals.csv").read_text().splitlines()
    (run / "intervals.csv").write_text(
        "\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    page = build_report(run).read_text()
    assert "ledger.png" not in images(page) and not (run / "report" / "ledger.png").exists()
    assert "intervals.csv has no commit latencies" in page


def test_summary_alone_is_enough(tmp_path):
    run = make_run(tmp_path / "run")
    for name in ("intervals.csv", "trades.csv", "homes.csv", "measurements.csv"):
        (run / name).unlink()
    page = build_report(run).read_text()
    assert images(page) == set()
    assert {"no intervals.csv in the run folder", "no homes.csv in the run folder"} <= notes(page)


def test_a_bare_summary_is_shown_and_limits_beyond_are_flagged(tmp_path):
    run = make_run(tmp_path / "run", intervals=3, homes=2)
    summary = {"ledger_valid": False, "vm_max_pu": 1.2, "vm_min_pu": 0.95, "vm_limits": [0.9, 1.1],
               "operator": "lab A"}
    (run / "summary.json").write_text(json.dumps(summary))
    page = build_report(run).read_text()
    assert images(page) == set(PLOTS)
    assert model(page)["flagged"] == ["ledger_valid", "vm_max_pu"]
    assert model(page)["summary"]["operator"] == "lab A"


def test_a_long_run_is_plotted_per_day(tmp_path):
    run = make_run(tmp_path / "run", intervals=20, interval_s=6 * 3600)
    page = build_report(run).read_text()
    assert "market.png" in images(page) and "grid.png" in images(page)


def bad_number(run):
    rows = read_rows(run / "trades.csv")
    rows[1]["energy_kwh"] = "lots"
    write_csv(run / "trades.csv", TRADE_COLUMNS, rows)


@pytest.mark.parametrize("spoil, message", [
    (lambda run: (run / "summary.json").unlink(), "has no summary.json"),
    (lambda run: (run / "summary.json").write_text("{not json"), "not valid JSON"),
    (lambda run: (run / "summary.json").write_text("[1, 2]"), "expected a JSON object"),
    (bad_number, "line 3: energy_kwh is not a number: 'lots'"),
    (lambda run: (run / "homes.csv").write_text("home,physical\nhome-01,true\n"),
     "missing column(s) sold_kwh, bought_kwh"),
])
def test_bad_run_folders_are_one_line_errors(tmp_path, spoil, message):
    run = make_run(tmp_path / "run", intervals=2, homes=2)
    spoil(run)
    with pytest.raises(TestbedError) as caught:
        build_report(run)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_file_in_the_way_of_the_report_folder_is_a_one_line_error(tmp_path):
    run = make_run(tmp_path / "run", intervals=2, homes=2)
    (run / "report").write_text("mine")
    with pytest.raises(TestbedError, match="is not a folder") as caught:
        build_report(run)
    assert "\n" not in str(caught.value)
    assert (run / "report").read_text() == "mine"


def test_a_missing_folder_is_not_a_run_folder(tmp_path):
    with pytest.raises(TestbedError, match="not a run folder") as caught:
        build_report(tmp_path / "nowhere")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "nowhere").exists()


def test_many_homes_are_drawn_as_distributions_and_trades_reach_the_page_as_tallies(tmp_path):
    """Beyond PER_HOME_MAX_HOMES the homes figure is the spread over the homes, the page gets
    the per-interval quantiles and the homes cut most, and never trades.csv row by row."""
    from testbed.records.home_spread import PER_HOME_MAX_HOMES, QUANTILES_PERCENT

    homes = PER_HOME_MAX_HOMES + 2
    run = make_run(tmp_path / "run", intervals=8, homes=homes)
    page = build_report(run).read_text()
    shown = model(page)
    assert "homes.png" in images(page)
    assert next(f["title"] for f in shown["figures"] if f["image"] == "homes.png") == (
        f"Energy sold and bought: the distribution over {homes} homes")
    assert "trades.csv" not in shown["tables"] and shown["curtailment"]["trades"] > 0
    spread = shown["spread"]
    assert spread["homes"] == homes and spread["quantiles_percent"] == list(QUANTILES_PERCENT)
    assert len(spread["interval_start"]) == 8 == len(spread["net_sold_kwh"][0])
    assert spread["worst_curtailed"][0][0] in {"home-01", "home-02", "home-03", "home-04"}
    assert shown["schema"]["homes"]["per_home_max"] == PER_HOME_MAX_HOMES
