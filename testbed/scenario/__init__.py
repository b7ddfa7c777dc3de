"""Scenarios: TOML files saying what to run (`spec`), read and checked with every problem
reported at once (`parse`). The default scenario ships here (`default.toml`)."""

from testbed.scenario.parse import DEFAULT, load_scenario, parse_scenario, read_document
from testbed.scenario.spec import (
    DeviceSpec,
    GridSpec,
    HomeSpec,
    HouseholdSpec,
    LedgerSpec,
    MarketSpec,
    PhysicalSpec,
    Scenario,
    TimeSpec,
)

__all__ = [
    "DEFAULT", "DeviceSpec", "GridSpec", "HomeSpec", "HouseholdSpec", "LedgerSpec", "MarketSpec",
    "PhysicalSpec", "Scenario", "TimeSpec", "load_scenario", "parse_scenario",
    "read_document",
]
