"""The live model and its server, without a browser: what the page and scripts get, the
token, and a page that cannot keep up."""

import asyncio
import json
import socket
import urllib.error
import urllib.request

import pytest

from grid_models.diagram import Branch, OneLine
from testbed.dashboard import Dashboard
from testbed.dashboard.state import KEPT_ROWS, LiveState, encode
from testbed.errors import InputError
from testbed.events import (
    BlockCommitted,
    CommandLogged,
    GridSolved,
    HomeInfo,
    IntervalCleared,
    OrdersPlaced,
    PlacedOrder,
    RunFinished,
    RunStarted,
    WatchdogKicked,
)
from testbed.records.columns import HOMES, INTERVALS, MEASUREMENTS, TRADES

FEEDER = OneLine(bus=(0, 1, 2), name=("source", "bus 1", "bus 2"), x=(0.0, 1.0, 2.0),
                 y=(0.0, 0.0, 0.0), branches=(Branch("line 1", "line", 0, 1),
                                              Branch("line 2", "line", 1, 2)),
                 source_row=0, geographic=False)
STARTED = RunStarted("tiny", 1_468_000_000, 900, 4, "made up",
                     (HomeInfo("home-01", 1, "pv_owner", 5.0, 0.0, True),
                      HomeInfo("home-02", 2, "household", 0.0, 0.0, False)),
                     0.9, 1.1, 100.0, 100.0, FEEDER)
INTERVAL_ROW = {"interval_start": "2016-07-08T17:46:40Z", "clearing_price": 150,
                "bid_kwh": 1.0, "offer_kwh": 2.0, "traded_kwh": 1.0, "granted_kwh": 1.0,
                "curtailed_kwh": 0.0, "delivered_kwh": "", "vm_min_pu": 0.99,
                "vm_max_pu": 1.01, "max_line_loading_percent": 12.5}


def test_events_and_rows_fold_into_the_page_model():
    state = LiveState()
    state.apply(STARTED)
    state.apply(OrdersPlaced(0, 0, (PlacedOrder(0, "offer", 1500, 120),
                                    PlacedOrder(1, "bid", 1000, 200)), (0, 0)))
    state.apply(IntervalCleared(0, 0, 150, ()))
    state.apply(GridSolved(0, 0, (1.0, 0.99, 0.98), 0.98, 1.0, 20.0, (20.0, 10.0)))
    state.apply(BlockCommitted(3, "ab", 0, 2, 900, 4.5))
    state.apply(WatchdogKicked(0.0, 0.2, 0, 3, 0))
    state.apply(CommandLogged(12.5, "home-01.inverter", "write", "SOUR:POW:ACT 1.0"))
    state.apply(("rows", INTERVALS.name, [INTERVAL_ROW], False))
    state.apply(("rows", TRADES.name, [{
        "interval_start": "2016-07-08T17:46:40Z", "seller": "home-01", "buyer": "home-02",
        "status": "curtailed", "constraint_kind": "voltage_high", "constraint_element": "bus 2",
        "energy_kwh": 1.0, "granted_kwh": 0.4, "constraint_value": 1.11,
        "constraint_limit": 1.1}], False))
    first = state.delta()
    assert first["run"]["scenario"] == "tiny" and first["feeder"]["bus"] == [0, 1, 2]
    assert first["tables"][INTERVALS.name]["columns"]["interval_start"] == [1_468_000_000_000]
    assert first["tables"][INTERVALS.name]["columns"]["delivered_kwh"] == [None]
    assert TRADES.name not in first["tables"]  # trades reach the page as the tally
    assert first["curtailment"]["elements"][0]["lost_kwh"] == pytest.approx(0.6)
    assert first["spread"]["homes"] == 2 and first["spread"]["net_sold_kwh"][-1] == [pytest.approx(0.36)]  # p95 of 0.4, -0.4
    assert first["spread"]["worst_curtailed"] == [["home-01", 0.6], ["home-02", 0.6]]
    latest = first["latest"]
    assert latest["price"] == 150 and latest["orders"] == {
        "k": 0, "bids": [[1.0, 200]], "offers": [[1.5, 120]]}
    assert latest["grid"]["vm_pu"] == [1.0, 0.99, 0.98] and latest["ledger"]["height"] == 3
    assert latest["log"] == [[12.5, "home-01.inverter", "write", "SOUR:POW:ACT 1.0"]]
    assert state.delta() is None  # nothing new
    state.apply(("rows", INTERVALS.name, [INTERVAL_ROW], False))
    state.apply(("rows", HOMES.name, [{"home": "home-01"}], True))
    state.apply(RunFinished(None))
    second = state.delta()
    assert second["tables"][INTERVALS.name]["columns"]["clearing_price"] == [150.0]
    assert second["tables"][HOMES.name]["replace"] is True
    assert second["latest"] == {"status": "finished"}
    snapshot = json.loads(encode(state.snapshot()))
    assert len(snapshot["tables"][INTERVALS.name]["clearing_price"]) == 2
    api = state.latest_values()
    assert api["intervals_settled"] == 2 and api["last_interval"]["clearing_price"] == 150.0
    assert "vm_pu" not in api["grid"] and "log" not in api


def test_the_bench_tables_keep_their_newest_rows():
    state = LiveState()
    state.apply(STARTED)
    keep = KEPT_ROWS[MEASUREMENTS.name]
    row = {"time_s": 0.0, "device": "home-01", "p_kw": 1.0, "q_kvar": 0.0, "v_v": 230.0,
           "energy_import_kwh": 0.0, "energy_export_kwh": 0.0}
    for t in range(2 * keep):
        state.apply(("rows", MEASUREMENTS.name, [{**row, "time_s": float(t)}], False))
    times = state.tables[MEASUREMENTS.name]["time_s"]
    assert keep <= len(times) <= keep * 5 // 4 and times[-1] == 2 * keep - 1


def test_encoding_a_model_column_by_column_is_plain_json():
    model = {"a": [1.5, None, "x"], "b": {"c": [True], "d": {}}, "e": "</script>"}
    assert json.loads(encode(model)) == model


@pytest.fixture
def dashboard():
    board = Dashboard(port=0)
    try:
        yield board
    finally:
        board.close()


def get(url, token=None):
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers.get("content-type"), response.read()


def test_the_server_serves_the_page_its_scripts_the_state_and_a_snapshot(dashboard):
    dashboard(STARTED)
    dashboard.rows(INTERVALS, [INTERVAL_ROW], False)
    assert dashboard.url.startswith("http://127.0.0.1:") and "token" not in dashboard.url
    status, kind, page = get(dashboard.url)
    assert status == 200 and kind.startswith("text/html") and b'"mode":"live"' in page and b"api/stream" in page
    status, _, script = get(dashboard.url + "assets/plotly.min.js")
    assert status == 200 and len(script) > 1_000_000 and b"plotly.js" in script[:200]
    assert get(dashboard.url + "assets/dashboard.js")[2].startswith(b"/*")
    with pytest.raises(urllib.error.HTTPError) as missing:
        get(dashboard.url + "assets/../../secrets")
    assert missing.value.code == 404
    state = json.loads(get(dashboard.url + "api/state")[2])
    assert state["scenario"] == "tiny" and state["status"] == "running"
    assert state["intervals_settled"] == 1
    with urllib.request.urlopen(dashboard.url + "api/stream", timeout=10) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.readline() == b"event: snapshot\n"
        snapshot = json.loads(stream.readline().removeprefix(b"data: "))
    assert snapshot["run"]["scenario"] == "tiny"
    assert snapshot["tables"][INTERVALS.name]["clearing_price"] == [150.0]


def test_another_host_needs_the_token(monkeypatch):
    board = Dashboard(port=0, host="127.0.0.1")  # given a host: a token, even on loopback
    try:
        assert board.token and f"?token={board.token}" in board.url
        base = board.url.split("?")[0]
        for path in ("", "api/state", "api/stream"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                get(base + path)
            assert refused.value.code == 401
            with pytest.raises(urllib.error.HTTPError):
                get(base + path, token="guess")
        assert get(base + "api/state", token=board.token)[0] == 200
        assert get(board.url)[0] == 200  # the printed URL carries it
        assert get(base + "assets/dashboard.css")[0] == 200  # the scripts are no secret
    finally:
        board.close()


def test_a_taken_port_is_a_one_line_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(InputError, match=r"cannot listen on 127.0.0.1:\d+") as caught:
            Dashboard(port=taken.getsockname()[1])
    assert "\n" not in str(caught.value)


def test_a_page_that_cannot_keep_up_is_dropped_and_the_run_never_waits(dashboard):
    """The run's side only puts into a queue; a page whose pushes pile up is dropped (its
    browser reconnects to a fresh snapshot) instead of holding anything back."""
    slow: asyncio.Queue = asyncio.Queue(2)
    dashboard._clients.add(slow)
    dashboard(STARTED)
    for k in range(200):
        dashboard(IntervalCleared(k, 0, 100 + k, ()))
        dashboard._fold()  # as the server's tick does; nobody reads the slow page's queue
    assert slow not in dashboard._clients
    assert dashboard.state.latest["price"] == 299
    assert dashboard.inbox.empty()
