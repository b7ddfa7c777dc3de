"""Electrical distance between buses of a feeder: the impedance of the path between them and
the highest voltage level it crosses, computed once from the network's topology.

The path is the one of least impedance through lines, transformers and closed switches
(pandapower's topology graph, branch impedances in ohm referred to each branch's own voltage
level); in a radial feeder it is the only path. A pair of buses with no path between them
(isolated, open switch) gets ``inf`` and ``nan``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandapower.topology as top


def _graph(net: object) -> nx.Graph:
    """A simple graph of the net's closed branches, weighted by ``|z|`` in ohm (the smallest
    of parallel branches)."""
    multi = top.create_nxgraph(net, calc_branch_impedances=True, branch_impedance_unit="ohm")
    graph = nx.Graph()
    graph.add_nodes_from(multi.nodes)
    for a, b, data in multi.edges(data=True):
        z = abs(complex(data.get("r_ohm", 0.0), data.get("x_ohm", 0.0)))
        if not graph.has_edge(a, b) or z < graph[a][b]["z_ohm"]:
            graph.add_edge(a, b, z_ohm=z)
    return graph


@dataclass(frozen=True)
class PathMatrices:
    """For each ordered pair of the buses asked for: the impedance ``|z|`` (ohm) of the path
    between them and the highest nominal voltage (kV) on it (a bus with itself: 0 ohm, its
    own voltage)."""

    buses: tuple[int, ...]
    impedance_ohm: np.ndarray
    max_vn_kv: np.ndarray


def path_matrices(net: object, buses: Sequence[int]) -> PathMatrices:
    """The `PathMatrices` of ``buses`` on ``net``."""
    graph = _graph(net)
    vn_kv = net.bus.vn_kv  # type: ignore[attr-defined]
    n = len(buses)
    z, v = np.full((n, n), np.inf), np.full((n, n), np.nan)
    for i, a in enumerate(buses):
        if a not in graph:
            continue
        lengths, paths = nx.single_source_dijkstra(graph, a, weight="z_ohm")
        for j, b in enumerate(buses):
            if b in paths:
                z[i, j], v[i, j] = lengths[b], float(vn_kv.loc[paths[b]].max())
    return PathMatrices(tuple(buses), z, v)
