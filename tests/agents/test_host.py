"""Agent files run in a process of their own: a bug, a wrong answer, a hang or a crash costs
the home its order for the interval, with the reason, and the run goes on; a run with a
misbehaving agent finishes, the reasons in its alarms."""

import csv
import textwrap
import time
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from testbed.agents.home import Forecast, Home, Kind
from testbed.agents.host import AgentHost, AgentRefused, HostedTrader
from testbed.agents.trader import Knowledge, MarketView
from testbed.errors import InputError
from testbed.interval.orders import plans
from testbed.ledger.transactions import Side
from testbed.market.params import MarketParams

P = MarketParams()
T = 900 * 1000
MOODY = '''
import os, time
from testbed.agents.trader import Plan
from testbed.ledger.transactions import Order


class Moody:
    """What it does depends on the forecast load (kW): a test's remote control."""

    def decide(self, knows, rng):
        load = knows.forecast.load_kw
        if load == 1:
            return Plan(Order(knows.interval, 1, 500, 200))
        if load == 2:
            return 1 / 0
        if load == 3:
            return "a plan"
        if load == 4:
            return Plan(Order(knows.interval, 1, 500, 5000))  # above retail
        if load == 5:
            time.sleep(60)
        os._exit(3)
'''


def _knows(load_kw):
    return Knowledge(T, P, Forecast(load_kw, 0.0), 0, None, 0, MarketView())


@pytest.fixture
def agent_file(tmp_path):
    path = tmp_path / "moody.py"
    path.write_text(MOODY)
    return path


def test_answers_bugs_and_wrong_answers(agent_file):
    host = AgentHost(agent_file, deadline_s=10)
    try:
        plan = host.decide(0, _knows(1), 7)
        assert plan.order.side == Side.BID and plan.order.energy_wh == 500
        with pytest.raises(AgentRefused, match="decide raised ZeroDivisionError"):
            host.decide(0, _knows(2), 7)
        with pytest.raises(AgentRefused, match="decide returned str, not a Plan"):
            host.decide(0, _knows(3), 7)
        assert host.decide(1, _knows(1), 7).order is not None  # still serving
    finally:
        host.close()


def test_a_hang_is_cut_at_the_deadline_and_the_agent_stopped(agent_file):
    host = AgentHost(agent_file, deadline_s=0.5)
    started = time.monotonic()
    with pytest.raises(AgentRefused, match=r"no answer within 0.5 s to decide \(stopped\)"):
        host.decide(0, _knows(5), 7)
    assert time.monotonic() - started < 5
    with pytest.raises(AgentRefused, match="no answer within"):  # not asked again
        host.decide(0, _knows(1), 7)
    assert not host.alive


def test_a_crash_is_named(agent_file):
    host = AgentHost(agent_file, deadline_s=10)
    with pytest.raises(AgentRefused, match=r"crashed \(exit code 3\)"):
        host.decide(0, _knows(6), 7)
    host.close()


def test_a_file_that_does_not_load_is_refused_at_the_start(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import no_such_module_anywhere\n")
    with pytest.raises(InputError, match="broken.py: importing it failed: ModuleNotFound"):
        AgentHost(path)


def test_a_refused_plan_is_no_order_with_its_reason(agent_file):
    host = AgentHost(agent_file, deadline_s=10)
    try:
        homes = [Home(f"h{i}", i, Kind.HOUSEHOLD, np.full(2, load), np.zeros(2),
                      load_forecast_error=0.0)  # the agent sees the load as it is
                 for i, load in enumerate((1.0, 4.0, 2.0))]
        decided, refused = plans(homes, [HostedTrader(host, i) for i in range(3)], 0, T, P,
                                 1, [0, 0, 0], MarketView())
        assert decided[0].order is not None and decided[1].order is decided[2].order is None
        assert [(r.home, r.k) for r in refused] == [(1, 0), (2, 0)]
        assert "price 5000 outside [feed-in 80, retail 300]" in refused[0].reason
        assert "ZeroDivisionError" in refused[1].reason
    finally:
        host.close()


HANGING = textwrap.dedent('''
    import time


    class Hangs:
        def decide(self, knows, rng):
            time.sleep(60)
''')


@pytest.mark.slow  # a whole run, and two agent processes started
def test_a_run_with_a_hanging_agent_finishes_and_names_it(tmp_path):
    """Two intervals of a small feeder, a third of the homes given an agent that hangs: its
    first decision is cut at the deadline, the agent stopped, and the run goes on to the
    end with those homes out of the market; two intervals show both the cut and the
    afterwards."""
    from testbed.run import run_scenario
    from testbed.scenario import load_scenario

    (tmp_path / "hangs.py").write_text(HANGING)
    s = load_scenario()
    s = replace(s, physical=(), grid=replace(s.grid, feeder="1-LV-rural1--0-sw"),
                time=replace(s.time, start=datetime(2016, 7, 21, 11, 0, tzinfo=UTC),
                             duration_hours=0.5),
                households=replace(s.households, strategy=f"{tmp_path / 'hangs.py'}:0.34"))
    started = time.monotonic()
    summary = run_scenario(s, tmp_path / "run", paced=False)
    assert time.monotonic() - started < 120
    assert summary["intervals"] == 2 and summary["ledger_valid"]
    with (tmp_path / "run" / "alarms.csv").open() as f:
        alarms = [row for row in csv.DictReader(f) if row["kind"] == "agent"]
    homes = {a["source"] for a in alarms}
    assert len(homes) == 4 and len(alarms) == 8  # 13 homes: 4 with the agent, 2 intervals
    assert all("no answer within" in a["message"] for a in alarms)
