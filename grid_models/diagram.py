"""A feeder's one-line diagram: where each bus is drawn and what connects them.

Buses are placed at their geodata (SimBench feeders carry it, as pandapower's GeoJSON points);
a net without complete geodata is laid out from its graph (pandapower's topology, networkx's
Kamada-Kawai layout, or a seeded spring layout when parts are disconnected), so every feeder can be drawn. Rows follow the net's bus
order, the order of the power flow's voltages. With the loads' phases, the diagram carries each
load (a home: its name, its bus's row, its phase: a, b, c or abc).

A town's grid (thousands of buses) is drawn as its `overview`: the feeders that feed a
transformer (the medium-voltage ring) bus by bus, and every feeder at the end of one (a
low-voltage feeder) as one node, which stands for its buses and lines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandapower as pp


@dataclass(frozen=True)
class Branch:
    """A line or a transformer between two buses (rows of `OneLine.bus`)."""

    name: str
    kind: str  # line | trafo
    from_row: int
    to_row: int


@dataclass(frozen=True)
class LoadMark:
    """A load on the diagram: its name, its bus's row and its phase connection."""

    name: str
    row: int
    phase: str


@dataclass(frozen=True)
class OneLine:
    bus: tuple[int, ...]  # pandapower bus index, per row
    name: tuple[str, ...]
    x: tuple[float, ...]
    y: tuple[float, ...]
    branches: tuple[Branch, ...]  # the lines first, in the net's line order, then transformers
    source_row: int | None  # the external grid's bus
    geographic: bool  # True: x, y are longitude, latitude
    loads: tuple[LoadMark, ...] = ()  # in the net's load order, when their phases are known

    def as_record(self) -> dict:
        """JSON-ready, for the run folder's feeder.json and the page."""
        return {
            "bus": list(self.bus), "name": list(self.name), "x": list(self.x),
            "y": list(self.y), "source_row": self.source_row, "geographic": self.geographic,
            "branches": [[b.name, b.kind, b.from_row, b.to_row] for b in self.branches],
            "loads": [[m.name, m.row, m.phase] for m in self.loads],
        }

    @classmethod
    def from_record(cls, record: dict) -> OneLine:
        return cls(tuple(record["bus"]), tuple(record["name"]), tuple(record["x"]),
                   tuple(record["y"]), tuple(Branch(*b) for b in record["branches"]),
                   record["source_row"], record["geographic"],
                   tuple(LoadMark(*m) for m in record.get("loads", ())))


MAX_BUSES_DRAWN = 1500
"""Up to this many buses a diagram is drawn bus by bus; beyond it, as its `overview` (a
browser draws some thousands of markers smoothly, not a town's 9,099 and its 8,772 homes)."""


@dataclass(frozen=True)
class Overview:
    """A large diagram drawn by feeder: ``diagram`` holds the buses of the source's feeder and
    of every feeder that feeds a transformer, and one node per other feeder (the buses its
    lines join, at the end of a transformer), placed at the bus its transformer feeds. ``row_node`` gives, per row of the full diagram, the node that stands
    for it; ``branch_of`` per branch of ``diagram`` its index in the full diagram;
    ``line_node`` per branch of the full diagram the node whose feeder holds it (-1: drawn)."""

    diagram: OneLine
    full_bus: tuple[int, ...]
    row_node: tuple[int, ...]
    branch_of: tuple[int, ...]
    line_node: tuple[int, ...]
    node_buses: tuple[int, ...]  # buses each node stands for
    node_loads: tuple[int, ...]  # loads (homes) on them
    node_feeder: tuple[bool, ...]  # True: the node is a feeder beyond a transformer

    def as_record(self) -> dict:
        """The diagram's record with what maps the full grid's results onto it."""
        return {**self.diagram.as_record(), "full_bus": list(self.full_bus),
                "row_node": list(self.row_node), "branch_of": list(self.branch_of),
                "line_node": list(self.line_node), "node_buses": list(self.node_buses),
                "node_loads": list(self.node_loads), "node_feeder": list(self.node_feeder)}


def drawn_record(diagram: OneLine) -> dict:
    """What a page draws: the diagram, or its overview beyond `MAX_BUSES_DRAWN` buses."""
    if len(diagram.bus) <= MAX_BUSES_DRAWN:
        return diagram.as_record()
    return overview(diagram).as_record()


def overview(diagram: OneLine) -> Overview:
    """The diagram by feeder (a feeder: the buses lines join): the source's and those that
    feed a transformer kept bus by bus, every other one a node at the bus its transformer
    feeds."""
    rows = len(diagram.bus)
    parent = list(range(rows))

    def root(r: int) -> int:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    for b in diagram.branches:
        if b.kind != "trafo":
            parent[root(b.from_row)] = root(b.to_row)
    group = [root(r) for r in range(rows)]
    kept = {group[b.from_row] for b in diagram.branches if b.kind == "trafo"}  # feeds another
    if diagram.source_row is not None:
        kept.add(group[diagram.source_row])
    fed_at: dict[int, int] = {}  # a feeder drawn as one node (its root) -> the row fed
    for b in diagram.branches:
        if b.kind == "trafo" and group[b.to_row] not in kept:
            fed_at.setdefault(group[b.to_row], b.to_row)
    node: dict[int, int] = {}  # kept row, or feeder root -> node
    bus, name, x, y, members, loads, feeder = [], [], [], [], [], [], []
    for r in range(rows):
        key = r if group[r] in kept else group[r]
        if key not in node:
            at = r if group[r] in kept else fed_at.get(group[r], r)
            node[key] = len(bus)
            bus.append(diagram.bus[at])
            name.append(diagram.name[at] if group[r] in kept
                        else f"feeder at {diagram.name[at]}")
            x.append(diagram.x[at])
            y.append(diagram.y[at])
            members.append(0)
            loads.append(0)
            feeder.append(group[r] not in kept)
        members[node[key]] += 1
    row_node = [node[r if group[r] in kept else group[r]] for r in range(rows)]
    for mark in diagram.loads:
        loads[row_node[mark.row]] += 1
    branches, branch_of = [], []
    line_node = [-1] * len(diagram.branches)
    for i, b in enumerate(diagram.branches):
        a, c = row_node[b.from_row], row_node[b.to_row]
        if b.kind != "trafo" and group[b.from_row] not in kept:
            line_node[i] = a  # inside a feeder drawn as one node
            continue
        branches.append(Branch(b.name, b.kind, a, c))
        branch_of.append(i)
    source = row_node[diagram.source_row] if diagram.source_row is not None else None
    drawn = OneLine(tuple(bus), tuple(name), tuple(x), tuple(y), tuple(branches), source,
                    diagram.geographic)
    return Overview(drawn, diagram.bus, tuple(row_node), tuple(branch_of), tuple(line_node),
                    tuple(members), tuple(loads), tuple(feeder))


def one_line(net: pp.pandapowerNet, phases: Sequence[str] | None = None,
             load_names: Sequence[str] | None = None) -> OneLine:
    """The diagram of ``net``: geodata where every bus has it, else a graph layout; with
    ``phases`` (one per load), its loads named ``load_names`` (default: the net's)."""
    rows = {int(b): i for i, b in enumerate(net.bus.index)}
    points = [_point(g) for g in (net.bus["geo"] if "geo" in net.bus else [None] * len(rows))]
    geographic = all(p is not None for p in points)
    if not geographic:
        points = _layout(net, list(rows))
    branches = [Branch(str(r["name"]) if isinstance(r["name"], str) else f"line {i}", "line",
                       rows[int(r["from_bus"])], rows[int(r["to_bus"])])
                for i, r in net.line.iterrows()]
    branches += [Branch(str(r["name"]) if isinstance(r["name"], str) else f"trafo {i}",
                        "trafo", rows[int(r["hv_bus"])], rows[int(r["lv_bus"])])
                 for i, r in net.trafo.iterrows()]
    source = rows.get(int(net.ext_grid["bus"].iloc[0])) if len(net.ext_grid) else None
    names = [str(n) if isinstance(n, str) else f"bus {b}" for b, n in zip(rows, net.bus["name"])]
    labels = ([str(n) for n in load_names] if load_names is not None
              else [_name(n, i) for i, n in enumerate(net.load["name"])])
    loads = () if phases is None else tuple(
        LoadMark(labels[i], rows[int(bus)], str(phase))
        for i, (bus, phase) in enumerate(zip(net.load["bus"], phases)))
    return OneLine(tuple(rows), tuple(names), tuple(float(p[0]) for p in points),
                   tuple(float(p[1]) for p in points), tuple(branches), source, geographic,
                   loads)


def _name(name: object, i: int) -> str:
    return str(name) if isinstance(name, str) else f"load {i}"


def _point(geo: object) -> tuple[float, float] | None:
    if not isinstance(geo, str):
        return None
    try:
        shape = json.loads(geo)
        x, y = shape["coordinates"][:2]
        return float(x), float(y)
    except (ValueError, KeyError, TypeError):
        return None


def _layout(net: pp.pandapowerNet, buses: list[int]) -> list[tuple[float, float]]:
    import networkx as nx
    from pandapower.topology import create_nxgraph

    graph = create_nxgraph(net, respect_switches=False, include_out_of_service=True)
    if len(graph) < 2:
        placed = {}
    elif nx.is_connected(graph):
        placed = nx.kamada_kawai_layout(graph, weight=None)  # hops: some branches have no length
    else:  # Kamada-Kawai needs every distance finite
        placed = nx.spring_layout(graph, seed=0)
    return [tuple(placed.get(b, (0.0, 0.0))) for b in buses]
