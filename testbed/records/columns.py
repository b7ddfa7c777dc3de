"""The run folder's CSV files, each column defined once: the recorder writes these, the report
and the dashboard read them. Units are in the names (`_kwh`, `_pu`, `_percent`, `_s`).

The page shows every column defined here. A number column named ``baseline_X`` is ``X`` with
the market off (the counterfactual run), and the page draws the two side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from grid_models.phases import PHASE_NAMES
from testbed.outcomes.key_figures import BASELINE

Kind = Literal["text", "number", "time", "flag"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    label: str


@dataclass(frozen=True)
class CsvFile:
    name: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def of_kind(self, kind: Kind) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.kind == kind)

    def baseline_pairs(self) -> tuple[tuple[str, str], ...]:
        """(X, baseline_X) for every X that has its market-off counterpart here."""
        names = set(self.names)
        return tuple((c.name, BASELINE + c.name) for c in self.columns
                     if c.kind == "number" and BASELINE + c.name in names)


INTERVALS = CsvFile("intervals.csv", (
    Column("interval_start", "time", "interval start (UTC)"),
    Column("clearing_price", "number", "clearing price per kWh"),
    Column("bid_kwh", "number", "bids (kWh)"),
    Column("offer_kwh", "number", "offers (kWh)"),
    Column("traded_kwh", "number", "traded (kWh)"),
    Column("granted_kwh", "number", "granted by the grid (kWh)"),
    Column("curtailed_kwh", "number", "curtailed by the grid (kWh)"),
    Column("delivered_kwh", "number", "delivered (kWh)"),
    Column("vm_min_pu", "number", "lowest bus voltage (pu)"),
    Column("vm_max_pu", "number", "highest bus voltage (pu)"),
    *(Column(f"vm_{end}_{phase}_pu", "number", f"{word} phase {phase} voltage (pu)")
      for phase in PHASE_NAMES for end, word in (("min", "lowest"), ("max", "highest"))),
    Column("vuf_max_percent", "number", "highest voltage unbalance factor (%)"),
    Column("max_line_loading_percent", "number", "highest line loading (%)"),
    Column("neutral_loading_max_percent", "number", "highest neutral loading (%)"),
    Column("export_limited_kwh", "number", "PV curtailed by the operator's export limits (kWh)"),
    Column("volt_watt_kwh", "number", "PV curtailed by the inverters' volt-watt (kWh)"),
    Column("violations", "text", "limits still broken under control, with their cause"),
    Column("upstream_import_kwh", "number", "imported from upstream at the transformer (kWh)"),
    Column("upstream_export_kwh", "number", "exported upstream at the transformer (kWh)"),
    Column("baseline_upstream_import_kwh", "number",
           "imported from upstream without the market (kWh)"),
    Column("baseline_upstream_export_kwh", "number",
           "exported upstream without the market (kWh)"),
    Column("commit_latency_max_ms", "number", "slowest block commit in the interval (ms)"),
))
TRADES = CsvFile("trades.csv", (
    Column("interval_start", "time", "interval start (UTC)"),
    Column("seller", "text", "seller"),
    Column("buyer", "text", "buyer"),
    Column("energy_kwh", "number", "traded (kWh)"),
    Column("granted_kwh", "number", "granted (kWh)"),
    Column("delivered_kwh", "number", "delivered (kWh)"),
    Column("price", "number", "price per kWh"),
    Column("status", "text", "accepted, curtailed or rejected"),
    Column("constraint_kind", "text", "binding constraint"),
    Column("constraint_element", "text", "binding element"),
    Column("constraint_value", "number", "value at the element"),
    Column("constraint_limit", "number", "limit of the element"),
))
HOMES = CsvFile("homes.csv", (
    Column("home", "text", "home"),
    Column("bus", "number", "feeder bus"),
    Column("role", "text", "role"),
    Column("pv_kwp", "number", "PV (kWp)"),
    Column("battery_kwh", "number", "battery (kWh)"),
    Column("physical", "flag", "physical (bench instruments)"),
    Column("phase", "text", "phase connection (a, b, c or abc)"),
    Column("sold_kwh", "number", "sold, granted (kWh)"),
    Column("bought_kwh", "number", "bought, granted (kWh)"),
    Column("delivered_sold_kwh", "number", "sold, delivered (kWh)"),
    Column("delivered_bought_kwh", "number", "bought, delivered (kWh)"),
    Column("net_payment", "number", "net payment received (currency units)"),
    Column("bill_units", "number", "bill with the market (currency units)"),
    Column("baseline_bill_units", "number", "bill without the market (currency units)"),
))
MEASUREMENTS = CsvFile("measurements.csv", (
    Column("time_s", "number", "time since start (s)"),
    Column("device", "text", "device"),
    Column("p_kw", "number", "active power, + imports (kW)"),
    Column("q_kvar", "number", "reactive power (kvar)"),
    Column("v_v", "number", "voltage (V)"),
    Column("energy_import_kwh", "number", "imported energy counter (kWh)"),
    Column("energy_export_kwh", "number", "exported energy counter (kWh)"),
))
SETPOINTS = CsvFile("setpoints.csv", (
    Column("time_s", "number", "time since start (s)"),
    Column("home", "text", "home"),
    Column("inverter_kw", "number", "inverter setpoint, + exports (kW)"),
    Column("load_kw", "number", "household load setpoint (kW)"),
    Column("v_pu", "number", "grid simulator voltage setpoint (pu)"),
))
STEPS = CsvFile("steps.csv", (
    Column("time_s", "number", "time since start (s)"),
    Column("lateness_ms", "number", "step start lateness (ms)"),
    Column("missed", "flag", "deadline missed"),
))
BLOCKS = CsvFile("blocks.csv", (
    Column("height", "number", "height"),
    Column("block_time", "time", "block time (UTC)"),
    Column("transactions", "number", "transactions"),
    Column("commit_ms", "number", "commit latency (ms)"),
    Column("node", "text", "validator node"),
))
ALARMS = CsvFile("alarms.csv", (
    Column("time_s", "number", "time since start (s)"),
    Column("source", "text", "source"),
    Column("kind", "text", "kind"),
    Column("message", "text", "message"),
))
BUSES = CsvFile("buses.csv", (
    Column("bus", "number", "feeder bus"),
    Column("name", "text", "bus name"),
    Column("vm_min_pu", "number", "lowest voltage of the run (pu)"),
    Column("vm_max_pu", "number", "highest voltage of the run (pu)"),
))
LINES = CsvFile("lines.csv", (
    Column("line", "text", "line"),
    Column("max_loading_percent", "number", "highest loading of the run (%)"),
))
FILES = (INTERVALS, TRADES, HOMES, MEASUREMENTS, SETPOINTS, STEPS, BLOCKS, ALARMS, BUSES, LINES)
"""Every CSV file of a run folder."""
