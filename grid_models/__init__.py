"""Grid models: pandapower feeders, a batch power flow over many snapshots, trade feasibility,
the inverters' IEEE 1547 functions, export limits and violation accounting.

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
    "Limits": "grid_models.violations",
    "Constraint": "grid_models.violations",
    "Violation": "grid_models.violations",
    "ViolationReport": "grid_models.violations",
    "ELEMENT_KINDS": "grid_models.violations",
    "count_violations": "grid_models.violations",
    "find_violations": "grid_models.violations",
    "TradeRequest": "grid_models.feasibility",
    "TradeDecision": "grid_models.feasibility",
    "FeasibilityResult": "grid_models.feasibility",
    "check_trades": "grid_models.feasibility",
    "Inverters": "grid_models.inverters",
    "InverterSettings": "grid_models.inverters",
    "VoltVar": "grid_models.inverters",
    "VoltWatt": "grid_models.inverters",
    "CATEGORY_B": "grid_models.inverters",
    "ExportLimits": "grid_models.envelopes",
    "export_limits": "grid_models.envelopes",
    "export_limits_batch": "grid_models.envelopes",
    "GridModelError": "grid_models.errors",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'grid_models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
