"""The page in a real browser (Debian's headless Chromium through Selenium): the live
dashboard of a short paced run, the finished run's page, a year of intervals, and the charts
of the market's outcomes when their columns exist."""

import json
import subprocess
import sys
import time
import urllib.request
from importlib import resources

import pytest

MIDDAY = 'start = "2016-07-21T11:00:00Z"'
RUN_TIMEOUT_S = 300
RENDERED = "return window.dashboard && window.dashboard.timings.firstRenderMs"
LEFT_RUNNING = ("const m = window.dashboard && window.dashboard.model;"
                "return Boolean(m && m.latest && m.latest.status !== 'running');")
WATCHED = """
const m = window.dashboard && window.dashboard.model;
const map = document.getElementById('feeder-map');
const buses = map && map.data ? map.data.find(t => t.name === 'buses') : null;
return [document.getElementById('kpi-price')?.textContent,
        document.getElementById('kpi-height')?.textContent,
        buses ? JSON.stringify(buses.marker.color) : null,
        m ? m.latest.status : null];
"""


@pytest.fixture(scope="module")
def live_run(browser, tmp_path_factory, wait_for, console_errors, artifacts):
    """A paced run of six midday intervals (1 s each) with its dashboard open in Chromium:
    what the page showed as the run went."""
    folder = tmp_path_factory.mktemp("live")
    default = resources.files("testbed.scenario").joinpath("default.toml").read_text()
    scenario = folder / "midday.toml"
    scenario.write_text(default.replace('start = "2016-07-21T00:00:00Z"', MIDDAY)
                        .replace("duration_hours = 24", "duration_hours = 1.5"))
    out = folder / "run"
    child = subprocess.Popen(
        [sys.executable, "-m", "testbed", "run", str(scenario), "--rtf", "900",
         "--control-step", "0.1", "--out", str(out), "--dashboard", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stderr.readline()
        assert line.startswith("dashboard: http://127.0.0.1:"), line
        url = line.split()[1]
        browser.get(url)
        wait_for(browser, RENDERED, 60)
        seen, states = [], []
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while child.poll() is None and time.monotonic() < deadline:
            values = browser.execute_script(WATCHED)
            if not seen or values != seen[-1]:
                seen.append(values)
            if values[3] == "running" and len(states) < 3:
                states.append(json.loads(urllib.request.urlopen(url + "api/state", timeout=10)
                                         .read()))
            if values[3] == "running" and values[0] not in ("-", None) and len(
                    {v[2] for v in seen} - {None}) == 3:  # mid-run: shown once, kept
                browser.save_screenshot(str(artifacts / "dashboard-live.png"))
                browser.execute_script("document.getElementById('feeder').scrollIntoView()")
                browser.save_screenshot(str(artifacts / "dashboard-live-feeder.png"))
                browser.execute_script("window.scrollTo(0, 0)")
            time.sleep(0.2)
        child.wait(timeout=max(1, deadline - time.monotonic()))
        wait_for(browser, LEFT_RUNNING, 30)  # the page took the run's last event
        seen.append(browser.execute_script(WATCHED))
        return {"out": out, "seen": seen, "states": states, "returncode": child.returncode,
                "stderr": child.stderr.read(), "errors": console_errors(browser)}
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_the_live_page_follows_a_paced_run(live_run, artifacts):
    assert live_run["returncode"] == 0, live_run["stderr"][-2000:]
    seen = live_run["seen"]
    prices = {s[0] for s in seen} - {"-", None}
    heights = {s[1] for s in seen} - {"-", None}
    diagrams = {s[2] for s in seen} - {None}
    assert len(prices) >= 2, seen  # the clearing price changed as intervals cleared
    assert len(heights) >= 3, seen  # blocks kept committing
    assert len(diagrams) >= 3, seen  # each power flow recoloured the feeder's buses
    assert seen[-1][3] == "finished"
    assert not live_run["errors"], live_run["errors"]
    for shot in ("dashboard-live.png", "dashboard-live-feeder.png"):
        assert (artifacts / shot).stat().st_size > 10_000
    state = live_run["states"][-1]  # GET /api/state while it ran
    assert state["scenario"] == "semiurban-summer-day" and state["status"] == "running"
    assert state["ledger"]["height"] > 0 and "vm_pu" not in state.get("grid", {})


def test_the_finished_run_page_renders_every_chart_without_console_errors(
        browser, live_run, wait_for, console_errors, artifacts):
    index = live_run["out"] / "report" / "index.html"
    browser.get(index.as_uri())
    wait_for(browser, RENDERED, 60)
    charts = browser.execute_script(
        "return window.dashboard.charts.map(c => [c.id, c.div.style.display !== 'none', "
        "c.div.querySelectorAll('.main-svg').length, c.note.textContent])")
    drawn = {c[0] for c in charts if c[1] and c[2] > 0}
    assert {"market-price", "market-volumes", "homes-energy", "homes-balance",
            "feeder-envelope", "feeder-loading", "feeder-map", "bench-measurements-p_kw",
            "bench-steps", "ledger-commit"} <= drawn, charts
    assert browser.execute_script(
        "return document.querySelectorAll('#alarm-list, #bench-log pre, #summary-table table')"
        ".length") == 3
    assert not console_errors(browser)
    browser.save_screenshot(str(artifacts / "report.png"))


YEAR = 35_040  # 15-minute intervals


def test_a_year_of_intervals_is_drawn_as_envelopes_and_zooms_to_full_detail(
        browser, tmp_path, wait_for, console_errors, artifacts, synthetic_run):
    from testbed.report import build_report

    index = build_report(synthetic_run(tmp_path / "year", YEAR))
    browser.get(index.as_uri())
    wait_for(browser, RENDERED, 120)
    points = "return document.getElementById('market-price').data[0].x.length"
    width = browser.execute_script(
        "return document.getElementById('market-price').clientWidth")
    assert browser.execute_script(
        "return window.dashboard.model.tables['intervals.csv'].traded_kwh.length") == YEAR
    drawn = browser.execute_script(points)
    assert drawn <= 2 * width + 1 < YEAR  # two points per pixel column (and the end)
    # zoomed in to two days, every interval is drawn
    browser.execute_script("""
        const d = document.getElementById('market-price');
        Plotly.relayout(d, {'xaxis.range': ['2016-06-01 00:00:00', '2016-06-03 00:00:00']});""")
    wait_for(browser, "return window.dashboard.timings.lastZoomMs !== undefined")
    assert 190 <= browser.execute_script(points) <= 200
    # the same series drawn whole, as a page without the envelope would (the baseline)
    baseline = browser.execute_script("""
        const t = window.dashboard.model.tables['intervals.csv'];
        const div = document.createElement('div'); document.body.append(div);
        const t0 = performance.now();
        Plotly.newPlot(div, [{type: 'scatter', mode: 'lines', x: t.interval_start,
                              y: t.clearing_price}], {xaxis: {type: 'date'}});
        return performance.now() - t0;""")
    timings = browser.execute_script("return window.dashboard.timings")
    figures = {"intervals": YEAR, "points_drawn": drawn,
               "first_render_ms": round(timings["firstRenderMs"]),
               "render_ms": round(timings["lastRenderMs"]),
               "price_chart_ms": round(timings["charts"]["market-price"]),
               "zoom_ms": round(timings["lastZoomMs"]),
               "price_chart_whole_series_ms": round(baseline)}
    (artifacts / "year-timings.json").write_text(json.dumps(figures, indent=1) + "\n")
    print("a year of intervals:", figures)
    assert not console_errors(browser)


def test_the_outcome_charts_and_any_new_column_appear(
        browser, tmp_path, monkeypatch, wait_for, console_errors, synthetic_run):
    """Issue 18's bill per home and energy balance, with and without the market (any X and
    baseline_X pair of records/columns.py), and a column records/columns.py gains later."""
    import dataclasses

    from testbed.records import columns
    from testbed.records.columns import Column
    from testbed.report import build_report

    later = Column("spot_reference_price", "number", "a price added later (per kWh)")
    monkeypatch.setattr(columns, "FILES", tuple(
        dataclasses.replace(spec, columns=spec.columns + (later,))
        if spec.name == columns.INTERVALS.name else spec for spec in columns.FILES))

    def ramp(start):
        return lambda n: [start + j for j in range(n)]

    index = build_report(synthetic_run(tmp_path / "outcomes", 96, extra={
        columns.HOMES.name: {"bill_units": ramp(100), "baseline_bill_units": ramp(150)},
        columns.INTERVALS.name: {
            "upstream_import_kwh": ramp(1), "upstream_export_kwh": ramp(2),
            "baseline_upstream_import_kwh": ramp(3), "baseline_upstream_export_kwh": ramp(4),
            later.name: ramp(5)}}))
    browser.get(index.as_uri())
    wait_for(browser, RENDERED, 60)
    shown = browser.execute_script("""
        return ['homes-bill_units', 'balance-pairs', 'balance-other'].map(id => {
            const d = document.getElementById(id);
            return d && d.data ? d.data.map(t => t.name) : null; });""")
    label = {c.name: c.label for spec in columns.FILES for c in spec.columns}
    assert shown[0] == [f"with the market: {label['bill_units']}",
                        f"without: {label['baseline_bill_units']}"]
    assert shown[1] == [label[c] for c in (
        "upstream_import_kwh", "baseline_upstream_import_kwh", "upstream_export_kwh",
        "baseline_upstream_export_kwh")]
    assert shown[2] == [later.label]
    assert not console_errors(browser)


TOWN_DRAWN_WITHIN_MS = 2000
"""Issue 27's bound for a town's finished page: every chart drawn (the first render, each
chart's Plotly.react, timed in the page by performance.now()) within 2 s, so a reader's page
answers; a bar per home and a marker per bus took 25 s here at load 16."""
ALL_CHARTS_DRAWN = """
const d = window.dashboard;
if (!d || d.timings.firstRenderMs === undefined) return null;
return d.charts.map(c => [c.id, c.div.style.display !== 'none',
                          c.div.querySelectorAll('.main-svg').length, c.note.textContent]);
"""


def test_a_towns_finished_page_draws_distributions_and_feeders_within_two_seconds(
        browser, town_run, wait_for, console_errors, artifacts):
    """8,772 homes on the real town grid's diagram: the homes as distributions with the worst
    named, the 9,099 buses as feeders, every chart drawn within the bound."""
    from testbed.records.home_spread import WORST_HOMES
    from testbed.report import build_report

    started = time.perf_counter()
    index = build_report(town_run)
    report_s = time.perf_counter() - started
    browser.get(index.as_uri())
    charts = wait_for(browser, ALL_CHARTS_DRAWN, 120)
    drawn = {c[0] for c in charts if c[1] and c[2] > 0}
    assert {"market-price", "homes-spread", "homes-energy", "homes-balance",
            "homes-bill_units", "feeder-envelope", "feeder-loading", "feeder-map"} <= drawn, charts
    timings = browser.execute_script("return window.dashboard.timings")
    shown = browser.execute_script("""
        const map = document.getElementById('feeder-map').data;
        const spread = document.getElementById('homes-spread').data;
        return {traces: map.map(t => [t.name, t.x.length]),
                bands: spread.map(t => t.name),
                worst: document.querySelectorAll('#homes-table tr').length,
                homes: window.dashboard.model.tables['homes.csv'].home.length};""")
    traces = dict(shown["traces"])
    assert traces["feeders beyond a transformer (size: buses)"] == 110
    assert traces["buses"] + 110 < 300 and traces["physical homes"] == 1
    assert shown["bands"] == ["p5", "p5 to p95", "p25", "p25 to p75", "median (p50)"]
    assert shown["homes"] == 8772
    assert shown["worst"] == 3 * (WORST_HOMES + 1)  # bill increase, net payment, curtailment
    assert not console_errors(browser)
    browser.save_screenshot(str(artifacts / "town-report.png"))
    browser.execute_script("document.getElementById('homes').scrollIntoView()")
    browser.save_screenshot(str(artifacts / "town-report-homes.png"))
    browser.execute_script("document.getElementById('feeder-map').scrollIntoView()")
    browser.save_screenshot(str(artifacts / "town-report-feeder.png"))
    figures = {"homes": shown["homes"], "report_s": round(report_s, 1),
               "page_bytes": index.stat().st_size,
               "navigation_to_drawn_ms": round(timings["firstRenderMs"]),
               "first_draw_ms": round(timings["firstDrawMs"]),
               "slowest_chart": max(timings["charts"].items(), key=lambda kv: kv[1])}
    (artifacts / "town-timings.json").write_text(json.dumps(figures, indent=1) + "\n")
    print("a town's finished page:", figures)
    assert timings["firstDrawMs"] < TOWN_DRAWN_WITHIN_MS, figures
