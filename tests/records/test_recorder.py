"""The recorder's files and row listeners, from events made by hand."""

import csv
import json

from grid_models.diagram import Branch, OneLine
from testbed.events import (
    BlockCommitted,
    GridSolved,
    HomeInfo,
    RunFinished,
    RunStarted,
    SetpointClamped,
    SetpointsSent,
    StepPaced,
    TransactionRefused,
    alarm,
)
from testbed.records.columns import ALARMS, FILES, INTERVALS
from testbed.records.recorder import FEEDER_FILE, Recorder

START_S = 1_468_000_000
FEEDER = OneLine(bus=(10, 11, 12), name=("a", "b", "c"), x=(0.0, 1.0, 2.0), y=(0.0,) * 3,
                 branches=(Branch("l1", "line", 0, 1), Branch("l2", "line", 1, 2),
                           Branch("t1", "trafo", 0, 2)), source_row=0, geographic=False)
STARTED = RunStarted("tiny", START_S, 900, 2, "made up",
                     (HomeInfo("home-01", 11, "pv_owner", 5.0, 0.0, True),), 0.9, 1.1, 100.0,
                     100.0, FEEDER)


def rows(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_bench_ledger_alarm_and_feeder_records(tmp_path):
    recorder = Recorder(tmp_path)
    heard = []
    recorder.listeners.append(lambda spec, made, replace: heard.append((spec.name, replace)))
    for event in (
        STARTED,
        GridSolved(0, START_S, (1.0, 0.97, 1.04), 0.97, 1.04, 30.0, (30.0, 12.0)),
        GridSolved(1, START_S + 900, (1.0, 0.99, 1.06), 0.99, 1.06, 20.0, (20.0, 25.0)),
        SetpointsSent(0.0, 0, 2.5, 0.4, None),
        StepPaced(0.0, 0.3, False), StepPaced(90.0, 140.0, True),
        BlockCommitted(7, "ab", START_S + 60, 41, 9000, 12.3456),
        SetpointClamped(0.0, "home-01.inverter", "set_active_power", 9.0, 5.0),
        TransactionRefused(START_S + 900, 8, "transaction 0: bad signature"),
        RunFinished(None),
    ):
        recorder(event)
    assert json.loads((tmp_path / FEEDER_FILE).read_text()) == FEEDER.as_record()
    assert rows(tmp_path / "buses.csv") == [
        {"bus": "10", "name": "a", "vm_min_pu": "1.0", "vm_max_pu": "1.0"},
        {"bus": "11", "name": "b", "vm_min_pu": "0.97", "vm_max_pu": "0.99"},
        {"bus": "12", "name": "c", "vm_min_pu": "1.04", "vm_max_pu": "1.06"}]
    assert rows(tmp_path / "lines.csv") == [{"line": "l1", "max_loading_percent": "30.0"},
                                            {"line": "l2", "max_loading_percent": "25.0"}]
    assert rows(tmp_path / "setpoints.csv") == [{"time_s": "0.0", "home": "home-01",
                                                 "inverter_kw": "2.5", "load_kw": "0.4",
                                                 "v_pu": ""}]
    assert [r["missed"] for r in rows(tmp_path / "steps.csv")] == ["false", "true"]
    assert rows(tmp_path / "blocks.csv") == [{
        "height": "7", "block_time": "2016-07-08T17:47:40Z", "transactions": "41",
        "commit_ms": "12.346", "node": ""}]
    assert rows(tmp_path / ALARMS.name) == [
        {"time_s": "90.0", "source": "pacer", "kind": "deadline_miss",
         "message": "step 140.0 ms late; its work overran the next step"},
        {"time_s": "0.0", "source": "home-01.inverter", "kind": "clamp",
         "message": "set_active_power 9 clamped to 5"},
        {"time_s": "900.0", "source": "ledger", "kind": "refused",
         "message": "block 8: transaction 0: bad signature"}]
    for spec in FILES:  # every file has its header, in the columns' order
        assert (tmp_path / spec.name).read_text().splitlines()[0] == ",".join(spec.names)
    assert ("alarms.csv", False) in heard and ("homes.csv", True) in heard
    assert ("buses.csv", True) in heard
    assert heard.count((INTERVALS.name, False)) == 2  # never settled: written at the end


def test_only_alarming_events_raise_alarms():
    assert alarm(StepPaced(1.0, 0.2, False), START_S) is None
    assert alarm(STARTED, START_S) is None
    assert alarm(StepPaced(1.0, 200.0, True), START_S).kind == "deadline_miss"
