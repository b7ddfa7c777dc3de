"""One-line diagrams: SimBench geodata as it is, a graph layout for a net without any."""

import math

import pandapower.networks as pn

from grid_models import load_feeder
from grid_models.diagram import OneLine, one_line


def test_a_simbench_feeder_is_drawn_at_its_geodata():
    feeder = load_feeder("1-LV-semiurb4--0-sw")
    d = one_line(feeder.net)
    assert d.geographic and d.bus == tuple(int(b) for b in feeder.net.bus.index)
    assert all(10 < x < 12 and 53 < y < 54 for x, y in zip(d.x, d.y))  # Germany, lon/lat
    lines = [b for b in d.branches if b.kind == "line"]
    assert [b.name for b in lines] == list(feeder.net.line["name"])
    assert d.source_row == d.bus.index(int(feeder.net.ext_grid["bus"].iloc[0]))
    assert OneLine.from_record(d.as_record()) == d


def test_a_net_without_geodata_is_laid_out_from_its_graph():
    net = pn.create_kerber_dorfnetz()
    net.bus["geo"] = None
    d = one_line(net)
    assert not d.geographic and len(d.x) == len(net.bus)
    assert all(math.isfinite(v) for v in d.x + d.y)
    assert len({(round(x, 6), round(y, 6)) for x, y in zip(d.x, d.y)}) > len(net.bus) // 2


def test_the_diagram_carries_each_home_and_its_phase():
    feeder = load_feeder("1-LV-semiurb4--0-sw")
    n = len(feeder.net.load)
    phases = ["a", "b", "c", "abc"] * n
    d = one_line(feeder.net, phases[:n], [f"home-{i:02d}" for i in range(n)])
    assert [(m.name, m.phase) for m in d.loads[:4]] == [
        ("home-00", "a"), ("home-01", "b"), ("home-02", "c"), ("home-03", "abc")]
    assert [d.bus[m.row] for m in d.loads] == [int(b) for b in feeder.net.load["bus"]]
    assert OneLine.from_record(d.as_record()) == d
    older = d.as_record()
    del older["loads"]  # a feeder.json written before homes had phases
    assert OneLine.from_record(older).loads == () and one_line(feeder.net).loads == ()
