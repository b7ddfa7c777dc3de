"""Role-typed drivers: the bench's inverters, meters, grid simulators and loads.

Each is a thin, typed face over a driver with ``act``/``set``/``read`` (the safety layer's
``SafeDriver`` on a bench, or a bare ``ScpiDriver`` or ``SunSpecDriver``: the role drivers do
not know the transport). Units: kW, kvar, V, A, Hz, kWh; meter power is positive when
importing from the grid, inverter power positive when exporting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from instruments.commandlog import CommandLog
from instruments.identity import DeviceIdentity
from instruments.profiles import Profile


class OperationDriver(Protocol):
    """What every transport's driver offers: a profile's operations in API units, the device's
    own range and resolution for setpoints (the safety layer clamps with them), identity."""

    name: str
    resource: str
    profile: Profile
    log: CommandLog
    busy: bool

    @property
    def role(self) -> str: ...
    def supports(self, op_name: str) -> bool: ...
    def device_range(self, op_name: str) -> tuple[float | None, float | None]: ...
    def wire_value(self, op_name: str, value: float) -> float: ...
    def act(self, op_name: str) -> None: ...
    def set(self, op_name: str, value: float) -> None: ...
    def read(self, op_name: str) -> float | bool: ...
    def idn(self) -> str: ...
    def identity(self) -> DeviceIdentity: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class InverterReading:
    p_kw: float
    q_kvar: float
    v: float
    f_hz: float
    enabled: bool


@dataclass(frozen=True)
class MeterReading:
    v: float
    i_a: float
    p_kw: float
    q_kvar: float
    import_kwh: float
    export_kwh: float


@dataclass(frozen=True)
class GridReading:
    v: float
    f_hz: float


class RoleDriver:
    """What every role shares: identity, a first reading (for checks) and closing."""

    role = ""

    def __init__(self, driver: OperationDriver) -> None:
        self.driver = driver
        self.name = driver.name

    def idn(self) -> str:
        return self.driver.idn()

    def identity(self) -> DeviceIdentity:
        return self.driver.identity()

    def read(self) -> object:
        raise NotImplementedError

    def close(self) -> None:
        self.driver.close()

    def _float(self, op_name: str) -> float:
        return float(self.driver.read(op_name))


class Inverter(RoleDriver):
    role = "inverter"

    def enable(self) -> None:
        self.driver.act("enable")

    def disable(self) -> None:
        self.driver.act("disable")

    def set_active_power(self, kw: float) -> None:
        self.driver.set("set_active_power", kw)

    def set_reactive_power(self, kvar: float) -> None:
        self.driver.set("set_reactive_power", kvar)

    def set_power_factor(self, pf: float) -> None:
        self.driver.set("set_power_factor", pf)

    def read_active_power(self) -> float:
        return self._float("read_active_power")

    def read(self) -> InverterReading:
        return InverterReading(
            p_kw=self._float("read_active_power"),
            q_kvar=self._float("read_reactive_power"),
            v=self._float("read_voltage"),
            f_hz=self._float("read_frequency"),
            enabled=bool(self.driver.read("read_state")),
        )


class Meter(RoleDriver):
    role = "meter"

    def reset_integration(self) -> None:
        self.driver.act("reset_integration")

    def start_integration(self) -> None:
        self.driver.act("start_integration")

    def read_active_power(self) -> float:
        return self._float("read_active_power")

    def read(self) -> MeterReading:
        return MeterReading(
            v=self._float("read_voltage"),
            i_a=self._float("read_current"),
            p_kw=self._float("read_active_power"),
            q_kvar=self._float("read_reactive_power"),
            import_kwh=self._float("read_energy_import"),
            export_kwh=self._float("read_energy_export"),
        )


class GridSimulator(RoleDriver):
    role = "grid_simulator"

    def enable(self) -> None:
        self.driver.act("enable")

    def disable(self) -> None:
        self.driver.act("disable")

    def set_voltage(self, v: float) -> None:
        self.driver.set("set_voltage", v)

    def set_frequency(self, f_hz: float) -> None:
        self.driver.set("set_frequency", f_hz)

    def read(self) -> GridReading:
        return GridReading(v=self._float("read_voltage"), f_hz=self._float("read_frequency"))


class Load(RoleDriver):
    role = "load"

    def enable(self) -> None:
        self.driver.act("enable")

    def disable(self) -> None:
        self.driver.act("disable")

    def set_power(self, kw: float) -> None:
        self.driver.set("set_power", kw)

    def read(self) -> float:
        """Power drawn, kW."""
        return self._float("read_active_power")


ROLE_DRIVERS: dict[str, type[RoleDriver]] = {
    cls.role: cls for cls in (Inverter, Meter, GridSimulator, Load)
}
