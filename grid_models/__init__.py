"""Grid models: pandapower feeders, a batch power flow over many snapshots, trade feasibility.

Names are imported on first use, so that ``grid_models.errors`` stays cheap to import.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Feeder": "grid_models.feeders",
    "Injections": "grid_models.feeders",
    "Profiles": "grid_models.feeders",
    "BUILTINS": "grid_models.feeders",
    "load_feeder": "grid_models.feeders",
    "GridModel": "grid_models.network",
    "compile_net": "grid_models.network",
    "SnapshotResult": "grid_models.powerflow",
    "solve_snapshots": "grid_models.powerflow",
    "TradeRequest": "grid_models.feasibility",
    "Limits": "grid_models.feasibility",
    "Constraint": "grid_models.feasibility",
    "TradeDecision": "grid_models.feasibility",
    "FeasibilityResult": "grid_models.feasibility",
    "check_trades": "grid_models.feasibility",
    "GridModelError": "grid_models.errors",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'grid_models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
