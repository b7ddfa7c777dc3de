"""Which SunSpec points serve each role operation: the standard's map, declared once as data.

SCPI instruments each need a profile table because every model speaks its own commands; SunSpec
devices share one register map, so the table lives here and a SunSpec profile only records a
device's quirks. Each operation lists candidate targets, preferred first: the IEEE 1547-2018 DER
models (701-706) before the legacy ones (101-103, 120-123). The driver binds each operation to
the first candidate whose model the device has (and, for readings, whose value it implements);
the emulator serves the same targets from its physics.
"""

from __future__ import annotations

from dataclasses import dataclass

INVERTER_MODELS = (101, 102, 103)
METER_MODELS = (201, 202, 203, 204)
COMMON = 1
#: Units of SunSpec points beyond the shared unit table: percent of the inverter's WMax and a
#: power factor (signed: positive is over-excited, i.e. the inverter injects vars).
PCT_WMAX = "%WMax"
PF = "pf"


@dataclass(frozen=True)
class Target:
    """One way to run an operation: a point in one of ``models``, in ``unit``.

    ``value`` is what an action writes; ``before`` are (point, value) pairs written first (a
    function's enable flag or mode); ``on`` are the values of a state point that mean "on";
    ``excitation`` names the enum point carrying a power factor's sign.
    """

    models: tuple[int, ...]
    point: str
    unit: str = "1"
    value: int | None = None
    before: tuple[tuple[str, int], ...] = ()
    on: frozenset[int] = frozenset()
    excitation: str | None = None


def _t(models: int | tuple[int, ...], point: str, unit: str = "1", **kw: object) -> Target:
    return Target((models,) if isinstance(models, int) else models, point, unit, **kw)  # type: ignore[arg-type]


#: St (101-103) values of an inverter permitted to feed: sleeping, starting, MPPT, throttled.
_FEEDING = frozenset({2, 3, 4, 5})

ROLE_TARGETS: dict[str, dict[str, tuple[Target, ...]]] = {
    "inverter": {
        "enable": (_t(703, "ES", value=1), _t(123, "Conn", value=1)),
        "disable": (_t(703, "ES", value=0), _t(123, "Conn", value=0)),
        "set_active_power": (
            _t(704, "WMaxLimPct", PCT_WMAX, before=(("WMaxLimPctEna", 1),)),
            _t(123, "WMaxLimPct", PCT_WMAX, before=(("WMaxLim_Ena", 1),)),
        ),
        "set_reactive_power": (
            _t(704, "VarSet", "var", before=(("VarSetMod", 4), ("VarSetEna", 1))),
            _t(123, "VArWMaxPct", PCT_WMAX, before=(("VArPct_Mod", 1), ("VArPct_Ena", 1))),
        ),
        "set_power_factor": (
            _t(704, "PFWInj.PF", PF, before=(("PFWInjEna", 1),), excitation="PFWInj.Ext"),
            _t(123, "OutPFSet", PF, before=(("OutPFSet_Ena", 1),)),
        ),
        "read_active_power": (_t(701, "W", "W"), _t(INVERTER_MODELS, "W", "W")),
        "read_reactive_power": (_t(701, "Var", "var"), _t(INVERTER_MODELS, "VAr", "var")),
        "read_voltage": (_t(701, "LNV", "V"), _t(INVERTER_MODELS, "PhVphA", "V")),
        "read_frequency": (_t(701, "Hz", "Hz"), _t(INVERTER_MODELS, "Hz", "Hz")),
        "read_state": (
            _t(701, "ConnSt", on=frozenset({1})),
            _t(INVERTER_MODELS, "St", on=_FEEDING),
        ),
    },
    "meter": {
        "read_voltage": (_t(METER_MODELS, "PhVphA", "V"), _t(METER_MODELS, "PhV", "V")),
        "read_current": (_t(METER_MODELS, "A", "A"),),
        "read_active_power": (_t(METER_MODELS, "W", "W"),),
        "read_reactive_power": (_t(METER_MODELS, "VAR", "var"),),
        "read_frequency": (_t(METER_MODELS, "Hz", "Hz"),),
        "read_energy_import": (_t(METER_MODELS, "TotWhImp", "Wh"),),
        "read_energy_export": (_t(METER_MODELS, "TotWhExp", "Wh"),),
        # SunSpec accumulators cannot be reset or paused: the driver keeps the baseline.
        "reset_integration": (),
        "start_integration": (),
    },
}

#: Where an inverter states its maximum active power (the base of the percent setpoints).
WMAX_TARGETS = (
    _t(702, "WMax", "W"),
    _t(702, "WMaxRtg", "W"),
    _t(121, "WMax", "W"),
    _t(120, "WRtg", "W"),
)

#: Model 1's identity points.
IDENTITY_POINTS = ("Mn", "Md", "SN", "Vr")
