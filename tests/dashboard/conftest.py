"""Headless Chromium for the page's tests: Debian's chromium and chromedriver, driven by
Selenium (never a browser or driver that a tool downloads). Outside CI, the tests skip with a
reason when Chromium is not installed; in CI (`.ci/run` installs it) they must run."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from testbed.records import columns

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts"
"""Screenshots the tests save, kept after the run (git ignores the folder)."""
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000")


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are required in CI (.ci/run installs "
                        "Debian's chromium and chromium-driver)")
        pytest.skip("Chromium is not installed: apt-get install chromium chromium-driver")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path_factory.getbasetemp() / "chromium-profile0", ignore_errors=True)


def _console_errors(driver) -> list[str]:
    """The browser console's errors since the last call, with the page's own caught ones."""
    logged = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return logged + driver.execute_script("return window.dashboard ? window.dashboard.errors : []")


def _wait_for(driver, script: str, timeout_s: float = 30):
    """Poll ``script`` (JavaScript returning a value) until it is truthy; its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, poll_frequency=0.1).until(
        lambda d: d.execute_script(script))


@pytest.fixture(scope="session")
def console_errors():
    return _console_errors


@pytest.fixture(scope="session")
def wait_for():
    return _wait_for


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# -- synthetic run folders: every file written with the columns records/columns.py defines
# (plus any a test adds), values shaped like a run's

START = pd.Timestamp("2016-01-01T00:00:00Z")


def run_folder(folder: Path, intervals: int, homes: int = 6, extra: dict | None = None) -> Path:
    """``intervals`` 15-minute intervals and ``homes`` homes; ``extra``: more columns by file
    name, each a function of (rows) -> values."""
    folder.mkdir(parents=True, exist_ok=True)
    k = np.arange(intervals)
    hour = (k % 96) / 4
    sun = np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None) * (1 + 0.3 * np.sin(k / 2900))
    rng = np.random.default_rng(7)
    traded = np.round(12 * sun + rng.random(intervals), 3)
    tables = {
        columns.INTERVALS.name: {
            "interval_start": (START + pd.to_timedelta(k * 900, unit="s")).strftime(
                "%Y-%m-%dT%H:%M:%SZ"),
            "clearing_price": np.where(traded > 0.5, np.round(250 - 120 * sun), np.nan),
            "bid_kwh": traded * 1.4, "offer_kwh": traded * 1.2, "traded_kwh": traded,
            "granted_kwh": traded * 0.95, "curtailed_kwh": traded * 0.05,
            "delivered_kwh": traded * 0.93, "vm_min_pu": np.round(0.97 - 0.02 * (1 - sun), 5),
            "vm_max_pu": np.round(1.01 + 0.03 * sun + 0.01 * rng.random(intervals), 5),
            "max_line_loading_percent": np.round(30 + 60 * sun, 3),
        },
        columns.HOMES.name: {
            "home": [f"home-{i:02d}" for i in range(1, homes + 1)],
            "bus": np.arange(homes) + 1, "role": ["pv_owner", "household"] * (homes // 2),
            "pv_kwp": [8.0, 0.0] * (homes // 2), "battery_kwh": 0.0,
            "physical": ["true", "false"] + ["false"] * (homes - 2),
            "sold_kwh": [30.0, 0.0] * (homes // 2), "bought_kwh": [0.0, 25.0] * (homes // 2),
            "delivered_sold_kwh": [28.0, 0.0] * (homes // 2),
            "delivered_bought_kwh": [0.0, 24.0] * (homes // 2),
            "net_payment": [5000, -4000] * (homes // 2),
        },
    }
    for name, more in (extra or {}).items():
        size = len(next(iter(tables[name].values())))
        tables[name].update({column: make(size) for column, make in more.items()})
    for name, table in tables.items():
        pd.DataFrame(table).to_csv(folder / name, index=False)
    (folder / "summary.json").write_text(json.dumps({
        "scenario": "synthetic", "start": "2016-01-01T00:00:00Z", "interval_s": 900,
        "participants": homes, "intervals": intervals, "vm_limits": [0.9, 1.05],
        "max_line_loading_limit": 100.0, "ledger_valid": True,
    }))
    return folder


@pytest.fixture(scope="session")
def synthetic_run():
    return run_folder


# -- a town's finished run: SimBench's MV+LV grid (8,772 homes, 9,099 buses) and a day of
# synthetic but schema-true records (a real town run takes minutes per interval)

TOWN_INTERVALS = 96
TOWN_TRADES_PER_SUNNY_INTERVAL = 1500


@pytest.fixture(scope="session")
def town_diagram():
    """The real town grid's one-line diagram, with its loads (the homes) on three phases."""
    from grid_models.diagram import one_line
    from grid_models.simbench_nets import simbench_net
    from testbed.benchmarks.town import TOWN

    net = simbench_net(TOWN)
    return one_line(net, ["abc"] * len(net.load))


def town_folder(folder: Path, diagram) -> Path:
    """A finished day of the town: every home of the diagram (one of them physical), its
    buses' and lines' extremes, a day's trades among the homes, and the diagram itself."""
    from testbed.records.recorder import FEEDER_FILE

    homes = len(diagram.loads)
    rng = np.random.default_rng(11)
    bill = np.round(rng.gamma(2.0, 150.0, homes), 3)
    run_folder(folder, TOWN_INTERVALS, homes, extra={columns.HOMES.name: {
        "bill_units": lambda n: bill, "baseline_bill_units": lambda n: np.round(
            bill * rng.normal(1.05, 0.08, n), 3)}})
    names = [m.name for m in diagram.loads]
    frame = pd.read_csv(folder / columns.HOMES.name)
    frame["home"] = names
    frame["bus"] = [diagram.bus[m.row] for m in diagram.loads]
    frame["sold_kwh"] = np.round(rng.gamma(1.5, 4.0, homes) * (rng.random(homes) < 0.4), 3)
    frame["bought_kwh"] = np.round(rng.gamma(2.0, 3.0, homes), 3)
    for side in ("sold", "bought"):
        frame[f"delivered_{side}_kwh"] = np.round(frame[f"{side}_kwh"] * 0.97, 3)
    frame["net_payment"] = np.round(0.2 * (frame["sold_kwh"] - frame["bought_kwh"]), 4)
    frame.to_csv(folder / columns.HOMES.name, index=False)
    trades = []
    for k in range(TOWN_INTERVALS):
        sun = max(0.0, float(np.sin((k / 4 - 6) / 12 * np.pi)))
        n = int(TOWN_TRADES_PER_SUNNY_INTERVAL * sun)
        if not n:
            continue
        energy = np.round(rng.gamma(1.5, 0.2, n), 4)
        cut = rng.random(n) < 0.1
        trades.append(pd.DataFrame({
            "interval_start": (START + pd.Timedelta(seconds=900 * k)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"),
            "seller": rng.choice(names, n), "buyer": rng.choice(names, n),
            "energy_kwh": energy, "granted_kwh": np.where(cut, np.round(energy / 2, 4), energy),
            "delivered_kwh": energy, "price": 0.2, "status": np.where(cut, "curtailed", "accepted"),
            "constraint_kind": np.where(cut, "line_loading", ""),
            "constraint_element": np.where(cut, "LV1.101 Line 7", ""),
            "constraint_value": np.where(cut, 101.0, np.nan),
            "constraint_limit": np.where(cut, 100.0, np.nan)}))
    pd.concat(trades)[list(columns.TRADES.names)].to_csv(folder / columns.TRADES.name,
                                                          index=False)
    rows = len(diagram.bus)
    pd.DataFrame({"bus": diagram.bus, "name": diagram.name,
                  "vm_min_pu": np.round(rng.normal(0.98, 0.01, rows), 5),
                  "vm_max_pu": np.round(rng.normal(1.03, 0.01, rows), 5)}).to_csv(
        folder / columns.BUSES.name, index=False)
    lines = [b.name for b in diagram.branches if b.kind == "line"]
    pd.DataFrame({"line": lines, "max_loading_percent": np.round(
        rng.gamma(2.0, 20.0, len(lines)), 3)}).to_csv(folder / columns.LINES.name, index=False)
    (folder / FEEDER_FILE).write_text(json.dumps(diagram.as_record()) + "\n")
    return folder


@pytest.fixture(scope="session")
def town_run(tmp_path_factory, town_diagram):
    return town_folder(tmp_path_factory.mktemp("town"), town_diagram)
