"""What a scenario says, as frozen values: which feeder, which homes have PV and batteries,
which homes are physical (instruments: resource, profile, limits), the market's rules, the
time span and pace, and where the ledger goes. Defaults are here; `parse` reads and checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from testbed.agents.home import LOAD_FORECAST_ERROR, PV_FORECAST_ERROR
from testbed.market.params import MarketParams
from testbed.network.timing import COMMIT_DEADLINE_S


@dataclass(frozen=True)
class GridSpec:
    feeder: str
    vm_min_pu: float = 0.90
    vm_max_pu: float = 1.10
    max_line_loading_percent: float = 100.0
    max_trafo_loading_percent: float = 100.0
    max_trafo3w_loading_percent: float = 100.0
    phases: str = "balanced"  # grid_models.phases.PHASE_SETTINGS; "unbalanced": three phases, each home on its own (EN 50160 VUF)
    max_vuf_percent: float = 2.0  # EN 50160: the voltage unbalance factor's limit
    single_phase_max_kva: float = 4.6  # VDE-AR-N 4105: larger PV connects on three phases


@dataclass(frozen=True)
class TimeSpec:
    start: datetime
    duration_hours: float = 24.0
    real_time_factor: float = 60.0
    control_step_s: float = 1.0


@dataclass(frozen=True)
class MarketSpec:
    """The market's rules; unset ones take the contract's defaults (`MarketParams`)."""

    interval_s: int = MarketParams.interval_seconds
    gate_closure_s: int = MarketParams.gate_closure_seconds
    mechanism: str = "pay_as_clear"
    feed_in_price_per_kwh: int = MarketParams.feed_in_price_per_kwh  # TOML: feed_in_price
    retail_price_per_kwh: int = MarketParams.retail_price_per_kwh  # TOML: retail_price
    shortfall_penalty_per_kwh: int = MarketParams.shortfall_penalty_per_kwh  # shortfall_penalty
    privacy: str = "private"  # sealed bids, sealed readings and settlement detail; "public"
    grid_fee: str = "none"  # the operator's fee design (`agents.tariff`): flat:20, ...


@dataclass(frozen=True)
class HouseholdSpec:
    seed: int = 0
    pv_share: float = 0.35
    pv_kwp_min: float = 4.0
    pv_kwp_max: float = 12.0
    battery_share: float = 0.15
    battery_kwh: float = 10.0
    battery_kw: float = 5.0
    load_forecast_error: float = LOAD_FORECAST_ERROR
    pv_forecast_error: float = PV_FORECAST_ERROR
    deposit: int = 200_000
    strategy: str = "by_kind"  # the homes' trader, for all or a share (`agents.loading`)
    homes: tuple[HomeSpec, ...] = ()  # explicit homes, overriding the seeded assignment


STRATEGIES = ("household", "pv_owner", "battery_owner")


@dataclass(frozen=True)
class HomeSpec:
    """One home set by hand (``[[households.home]]``): its PV, battery, strategy or phase
    (a, b, c or abc). Its bus and load profile are those of its load on the feeder (home-NN
    is load NN). ``agent = "external"``: the home trades with its own agent process
    (`testbed agent run`) and its own key, whose public half is in its folder ``keys``; the
    run holds no private key of it and decides nothing for it."""

    name: str
    strategy: str | None = None
    pv_kwp: float | None = None
    battery_kwh: float | None = None
    phase: str | None = None
    agent: str | None = None  # "external", or None: the run's trader
    keys: str | None = None  # an external home's folder (`testbed agent keys`)


@dataclass(frozen=True)
class DeviceSpec:
    """One instrument of a physical home: where it is, how it speaks, what it may be told."""

    resource: str  # VISA resource, modbus-tcp://HOST:PORT/UNIT, or "emulated" (built in)
    profile: str
    limits: dict[str, float] = field(default_factory=dict)
    calibration_date: date | None = None  # recorded with the device's identity


@dataclass(frozen=True)
class PhysicalSpec:
    home: str
    inverter: DeviceSpec
    meter: DeviceSpec
    grid_simulator: DeviceSpec | None = None  # holds the bus voltage of the feeder model


@dataclass(frozen=True)
class LedgerSpec:
    path: str = "ledger.sqlite"
    validators: int = 1  # of the embedded ledger
    network: str | None = None  # a local network's folder: the run's ledger is on it
    commit_deadline_s: float = COMMIT_DEADLINE_S  # on a network: a batch's time to commit


@dataclass(frozen=True)
class Scenario:
    name: str
    grid: GridSpec
    time: TimeSpec
    market: MarketSpec
    households: HouseholdSpec
    physical: tuple[PhysicalSpec, ...]
    ledger: LedgerSpec
    source: str

    @property
    def start_s(self) -> int:
        return int(self.time.start.timestamp())

    @property
    def intervals(self) -> int:
        return int(self.time.duration_hours * 3600) // self.market.interval_s

