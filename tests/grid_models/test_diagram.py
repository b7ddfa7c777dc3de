"""One-line diagrams: SimBench geodata as it is, a graph layout for a net without any."""

import math

import pandapower.networks as pn

from grid_models import load_feeder
from grid_models.diagram import MAX_BUSES_DRAWN, OneLine, drawn_record, one_line, overview


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


def test_a_large_grid_is_drawn_by_feeder_and_every_bus_and_line_is_accounted_for():
    """CIGRE's MV grid: the source's 110 kV bus feeds the 20 kV grid over two transformers
    (its two feeders are one in the diagram: their tie lines are drawn, open or not); the
    overview keeps the bus that feeds it and draws the 20 kV grid as one node."""
    d = one_line(pn.create_cigre_network_mv(), ["abc"] * 18)
    o = overview(d)
    feeders = [n for n, feeder in enumerate(o.node_feeder) if feeder]
    assert len(feeders) == 1 and sum(o.node_buses) == len(d.bus) == len(o.row_node)
    assert sum(o.node_loads) == len(d.loads)
    assert o.diagram.source_row == o.row_node[d.source_row] and o.node_buses[
        o.diagram.source_row] == 1
    trafos = [b for b in o.diagram.branches if b.kind == "trafo"]
    assert len(trafos) == sum(b.kind == "trafo" for b in d.branches)
    assert {b.to_row for b in trafos} == set(feeders)
    for i, b in enumerate(d.branches):  # a line inside a feeder is that feeder's
        if i in o.branch_of:
            assert d.branches[i].kind == "trafo" or o.line_node[i] == -1
        else:
            assert o.line_node[i] == o.row_node[b.from_row] == o.row_node[b.to_row]
    assert all(o.diagram.name[n].startswith("feeder at ") for n in feeders)


def test_a_small_grid_is_drawn_bus_by_bus():
    d = one_line(pn.create_cigre_network_mv())
    assert len(d.bus) <= MAX_BUSES_DRAWN and drawn_record(d) == d.as_record()
    many = OneLine(d.bus * 101, d.name * 101, d.x * 101, d.y * 101, d.branches, d.source_row,
                   d.geographic)
    assert "row_node" in drawn_record(many)
