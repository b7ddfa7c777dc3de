"""Parts of a grid: what the lines connect, the transformers joining parts into a tree.

A *part* is a set of nodes connected by lines alone (an LV feeder below its transformer, the
MV ring, the slack's own bus); the transformers join the parts, and from the slack's part(s)
outward they form a tree (a transformer in parallel, or a ring of parts, adds no second
parent: the first found from the slack is kept). A unit injecting in part ``p`` is *below*
each part on the path from ``p`` to the slack (a trade between two feeders: below both). The curtailment relieves in one round the worst
violated element of each of several parts none of which is below another
(`grid_models.curtailment`): feeders under different transformers interact only through the
voltage and loading above them.

An element's part is the deepest part of its nodes (`grid_models.sensitivity.element_nodes`):
a bus's or a line's own, a transformer's lower side.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from grid_models.powerflow import Model
from grid_models.unbalanced import UnbalancedModel


@dataclass(frozen=True)
class Parts:
    """Each node's part (non-slack nodes then slack nodes, the model's order), each part's
    depth from the slack's and the parts above it (itself included)."""

    node_part: np.ndarray  # (nodes,) int
    depth: np.ndarray  # (parts,) int: 0 for a part with a slack node
    above: tuple[frozenset[int], ...]  # per part: itself and every part on its way to the slack

    def of_nodes(self, nodes: np.ndarray) -> int:
        """The deepest part among ``nodes`` (lowest number on a tie); no node: part 0's
        root, the slack's."""
        if not len(nodes):
            return self.root
        parts = self.node_part[nodes]
        return int(parts[np.lexsort((parts, -self.depth[parts]))[0]])

    @property
    def root(self) -> int:
        return int(np.flatnonzero(self.depth == 0)[0])

    def independent(self, a: int, b: int) -> bool:
        """Neither part is below the other (each one's units are no candidates of the other's
        elements)."""
        return a not in self.above[b] and b not in self.above[a]

    def unit_reach(self, model: Model, cols: np.ndarray) -> np.ndarray:
        """Which parts each unit is below (n, parts), by its injection columns ``cols`` (n, w)
        (-1: none): every part above one of its columns' (a trade between two feeders is
        below both, and the MV above them); a unit with no column is below the root's."""
        n = len(model.v0)
        count = len(self.depth)
        above = np.zeros((count, count), dtype=bool)
        for p, chain in enumerate(self.above):
            above[p, list(chain)] = True
        placed = cols >= 0
        node = np.where(placed, cols % n if isinstance(model, UnbalancedModel) else cols, 0)
        part = self.node_part[node]
        reach = np.zeros((len(cols), count), dtype=bool)
        for c in range(cols.shape[1]):
            reach |= above[part[:, c]] & placed[:, c, None]
        reach[~placed.any(axis=1), self.root] = True
        return reach

_KEPT: dict[int, tuple[Model, Parts]] = {}


def parts_of(model: Model) -> Parts:
    """The parts of ``model`` (kept per model while it lives)."""
    kept = _KEPT.get(id(model))
    if kept is not None and kept[0] is model:
        return kept[1]
    parts = _parts(model)
    if len(_KEPT) >= 8:
        _KEPT.clear()
    _KEPT[id(model)] = (model, parts)
    return parts


def _parts(model: Model) -> Parts:
    n_free = len(model.v0)
    ends = np.asarray(model.branch_nodes, dtype=np.int64)
    n_nodes = max(n_free + len(model.v_slack), int(ends.max(initial=-1)) + 1)
    lines = ends[:model.n_line]
    lines = lines[(lines >= 0).all(axis=1)]
    graph = sparse.coo_matrix((np.ones(len(lines)), (lines[:, 0], lines[:, 1])),
                              shape=(n_nodes, n_nodes))
    count, node_part = csgraph.connected_components(graph, directed=False)
    joins: list[list[int]] = [[] for _ in range(count)]
    for f, t in ends[model.n_line:]:
        if f >= 0 and t >= 0 and node_part[f] != node_part[t]:
            joins[node_part[f]].append(int(node_part[t]))
            joins[node_part[t]].append(int(node_part[f]))
    depth = np.full(count, -1)
    parent = np.full(count, -1)
    roots = sorted({int(node_part[k]) for k in range(n_free, n_nodes)}) or [0]
    for start in [*roots, *range(count)]:  # parts the slack does not reach: their own roots
        if depth[start] >= 0:
            continue
        depth[start] = 0
        queue = deque([start])
        while queue:
            a = queue.popleft()
            for b in joins[a]:
                if depth[b] < 0:
                    depth[b], parent[b] = depth[a] + 1, a
                    queue.append(b)
    above = []
    for p in range(count):
        chain = [p]
        while parent[chain[-1]] >= 0:
            chain.append(int(parent[chain[-1]]))
        above.append(frozenset(chain))
    return Parts(node_part.astype(np.int64), depth, tuple(above))
