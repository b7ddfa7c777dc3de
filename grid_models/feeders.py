"""Feeders: a pandapower net with its households and a year of 15-minute profiles.

``load_feeder(spec)`` accepts a SimBench code (data shipped inside the ``simbench`` package, works
offline), the name of a pandapower built-in (see ``BUILTINS``) or a path to a pandapower JSON file.

Every feeder has profiles for the SimBench year (2016, 35,136 quarter-hours), so that any feeder
can run a market. A SimBench feeder has its own. A built-in or JSON net gets SimBench's standard
ones, read offline from the package's data set, as SimBench itself scales them: each load the
household profiles ``HOUSEHOLD_PROFILES`` in turn, in table order (active power = profile x the
load's ``p_mw``, reactive = the reactive profile x its ``q_mvar``), and each static generator the
PV profile ``PV_PROFILE`` times its rating (``sn_mva``, else ``p_mw``), at unity power factor.

``Profiles.pv_per_kw`` is the feeder's PV profile per kW of rating, for the PV a scenario adds to
its homes: the profile of the feeder's first PV generator (SimBench), else ``PV_PROFILE``.

A loaded feeder's profiles are kept as SimBench keeps them (`ScaledProfiles`): the few relative
profiles its elements use, and each element's profile and scale; the absolute values are made
for the steps asked for. Materialised, a town's year (8,772 loads of
``1-MVLV-semiurb-all-0-sw``) would be 2.5 GB for each of the loads' P and Q.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd

from grid_models.errors import GridModelError
from grid_models.network import GridModel, compile_net
from grid_models.simbench_nets import simbench_net
from grid_models.unbalanced import UnbalancedModel, compile_unbalanced

STEP_MINUTES = 15
PROFILE_STEP_S = STEP_MINUTES * 60
PROFILE_START_S = 1_451_606_400
"""2016-01-01T00:00:00Z: SimBench profiles are the year 2016 in 15-minute steps."""
HOUSEHOLD_PROFILES = ("H0-A", "H0-B", "H0-C")  # SimBench's standard household load profiles
PV_PROFILE = "PV5"  # the PV profile of the default feeder, 1-LV-semiurb4--0-sw
_SIMBENCH_DATA = "1-complete_data-mixed-all-0-sw"  # the package's complete data set: profiles

BUILTINS: dict[str, Callable[[], pp.pandapowerNet]] = {
    "cigre_lv": pn.create_cigre_network_lv,
    "cigre_mv": pn.create_cigre_network_mv,
    "kerber_landnetz_freileitung_1": pn.create_kerber_landnetz_freileitung_1,
    "kerber_landnetz_freileitung_2": pn.create_kerber_landnetz_freileitung_2,
    "kerber_landnetz_kabel_1": pn.create_kerber_landnetz_kabel_1,
    "kerber_landnetz_kabel_2": pn.create_kerber_landnetz_kabel_2,
    "kerber_dorfnetz": pn.create_kerber_dorfnetz,
    "kerber_vorstadtnetz_kabel_1": pn.create_kerber_vorstadtnetz_kabel_1,
    "kerber_vorstadtnetz_kabel_2": pn.create_kerber_vorstadtnetz_kabel_2,
}


@dataclass(frozen=True)
class Injections:
    """Per-element injections of one interval, in the net's table order (pandapower signs)."""

    load_p_mw: np.ndarray
    load_q_mvar: np.ndarray
    sgen_p_mw: np.ndarray
    sgen_q_mvar: np.ndarray

    @classmethod
    def from_net(cls, net: pp.pandapowerNet) -> Injections:
        """The values written in the net's load and sgen tables."""
        return cls(
            net.load["p_mw"].to_numpy(float),
            net.load["q_mvar"].to_numpy(float),
            net.sgen["p_mw"].to_numpy(float),
            net.sgen["q_mvar"].to_numpy(float),
        )


@dataclass(frozen=True, eq=False)
class ScaledProfiles:
    """A read-only (steps, elements) table: element j at step t is ``relative[t, column[j]] *
    scale[j]``, the product SimBench's absolute profiles are made of (so bit for bit the same),
    computed for the steps and elements indexed. ``np.asarray`` gives the whole table."""

    relative: np.ndarray  # (steps, profiles) read-only
    column: np.ndarray  # (elements,) which relative profile each element follows
    scale: np.ndarray  # (elements,)

    ndim = 2
    dtype = np.dtype(np.float64)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.relative.shape[0], len(self.column))

    def __len__(self) -> int:
        return self.relative.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        """The absolute values at ``key`` (steps, or (steps, elements)), as numpy indexes."""
        steps, elements = key if isinstance(key, tuple) else (key, slice(None))
        return self.relative[steps][..., self.column[elements]] * self.scale[elements]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def head(self, steps: int) -> ScaledProfiles:
        """The first ``steps`` steps, still scaled on demand."""
        return ScaledProfiles(self.relative[:steps], self.column, self.scale)

    @classmethod
    def of(cls, relative: np.ndarray, column: np.ndarray, scale: np.ndarray) -> ScaledProfiles:
        """A table over read-only copies of its arrays."""
        arrays = [np.array(relative, dtype=np.float64), np.array(column, dtype=np.int64),
                  np.array(scale, dtype=np.float64)]
        for array in arrays:
            array.flags.writeable = False
        return cls(*arrays)


ProfileTable = np.ndarray | ScaledProfiles


@dataclass(frozen=True)
class Profiles:
    """Absolute 15-minute profiles (T, elements), columns in the net's table order, and the
    feeder's PV profile per kW of rating (T,), where known."""

    load_p_mw: ProfileTable
    load_q_mvar: ProfileTable
    sgen_p_mw: ProfileTable
    sgen_q_mvar: ProfileTable
    pv_per_kw: np.ndarray | None = None

    @property
    def steps(self) -> int:
        return self.load_p_mw.shape[0]

    def at(self, step: int) -> Injections:
        """The injections of one interval."""
        return Injections(
            self.load_p_mw[step],
            self.load_q_mvar[step],
            self.sgen_p_mw[step],
            self.sgen_q_mvar[step],
        )

    def head(self, steps: int) -> Profiles:
        """The first ``steps`` intervals."""
        pv = None if self.pv_per_kw is None else self.pv_per_kw[:steps]
        return Profiles(*(a.head(steps) if isinstance(a, ScaledProfiles) else a[:steps]
                          for a in self.tables()), pv_per_kw=pv)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The four tables as arrays, every step made: for days of a feeder, or a year of a
        small one (a town's year is gigabytes: take its steps in parts, ``table[rows]``)."""
        return tuple(np.asarray(a) for a in self.tables())

    def tables(self) -> tuple[ProfileTable, ...]:
        """The four tables as they are kept (`ScaledProfiles` made on demand)."""
        return (self.load_p_mw, self.load_q_mvar, self.sgen_p_mw, self.sgen_q_mvar)


@dataclass(frozen=True, eq=False)
class Feeder:
    """A net, the bus of each household load and generator, and its profiles; with
    ``phases``, each load's phase connection (``grid_models.unbalanced.PHASES``): the feeder
    is then solved unbalanced."""

    name: str
    net: pp.pandapowerNet
    load_bus: dict[int, int]
    sgen_bus: dict[int, int]
    profiles: Profiles
    phases: tuple[str, ...] | None = None

    @functools.cached_property
    def model(self) -> GridModel | UnbalancedModel:
        """The net compiled for the batch power flow (balanced, or unbalanced with its loads on
        ``phases``), built on first use and kept."""
        if self.phases is None:
            return compile_net(self.net)
        return compile_unbalanced(self.net, self.phases)

    def with_phases(self, phases: Sequence[str] | None) -> Feeder:
        """This feeder with its loads on ``phases`` (None: balanced); the net is shared."""
        return dataclasses.replace(self, phases=None if phases is None else tuple(phases))


def load_feeder(spec: str) -> Feeder:
    """A feeder from a SimBench code, a built-in name or a pandapower JSON file."""
    spec = str(spec).strip()
    if spec in BUILTINS:
        net = BUILTINS[spec]()
        return _feeder(spec, net, standard_profiles(net))
    if spec in _simbench_codes():
        return _simbench_feeder(spec)
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".json" or path.exists():
        net = _read_json(path)
        return _feeder(path.name, net, standard_profiles(net))
    raise GridModelError(
        f"unknown feeder {spec!r}: give a SimBench code (e.g. 1-LV-semiurb4--0-sw), "
        f"a pandapower JSON file or one of: {', '.join(BUILTINS)}"
    )


def _feeder(name: str, net: pp.pandapowerNet, profiles: Profiles) -> Feeder:
    return Feeder(
        name=name,
        net=net,
        load_bus={int(i): int(b) for i, b in net.load["bus"].items()},
        sgen_bus={int(i): int(b) for i, b in net.sgen["bus"].items()},
        profiles=profiles,
    )


@functools.lru_cache(maxsize=1)
def _simbench_codes() -> frozenset[str]:
    import simbench

    return frozenset(simbench.collect_all_simbench_codes())


def _simbench_feeder(code: str) -> Feeder:
    net, profiles = _simbench_data(code)
    return _feeder(code, copy.deepcopy(net), profiles)


@functools.lru_cache(maxsize=4)
def _simbench_data(code: str) -> tuple[pp.pandapowerNet, Profiles]:
    """The net and its profiles, read once per process (`simbench_nets`: built once per
    machine); callers get their own copy of the net, the profiles are read-only."""
    net = simbench_net(code)
    renewables = net.profiles["renewables"]
    generators = [net.profiles["powerplants"], renewables]
    pv = net.sgen["profile"].astype(str).str.startswith("PV") if len(net.sgen) else []
    name = net.sgen["profile"][pv].iloc[0] if np.any(pv) else PV_PROFILE
    pv_per_kw = (
        renewables[name].to_numpy(float).copy()
        if name in renewables
        else _standard_data()[1][PV_PROFILE]
    )
    pv_per_kw.flags.writeable = False
    steps = len(renewables)
    profiles = Profiles(
        load_p_mw=_scaled(net, "load", "p_mw", [net.profiles["load"]], "_pload"),
        load_q_mvar=_scaled(net, "load", "q_mvar", [net.profiles["load"]], "_qload"),
        sgen_p_mw=_scaled(net, "sgen", "p_mw", generators, ""),
        sgen_q_mvar=ScaledProfiles.of(np.zeros((steps, 1)), np.zeros(len(net.sgen)),
                                      np.ones(len(net.sgen))),
        pv_per_kw=pv_per_kw,
    )
    return net, profiles


def _scaled(net: pp.pandapowerNet, element: str, column: str, frames: list,
            suffix: str) -> ScaledProfiles:
    """``simbench.get_absolute_values``' table of ``element``'s ``column``, kept scaled: each
    element follows the relative profile its ``profile`` names (with ``suffix``; none: 1), in
    the first of ``frames`` that has it."""
    table = net[element]
    names = (table["profile"] + suffix if "profile" in table
             else pd.Series(np.nan, index=table.index, dtype=object))
    used = sorted(set(names.dropna()))
    relative = np.ones((len(frames[0]), len(used) + 1))  # the last column: no profile
    for j, profile in enumerate(used):
        frame = next((f for f in frames if profile in f), None)
        if frame is None:
            raise GridModelError(f"{element} profile {profile!r} is missing from the feeder's "
                                 "profiles")
        relative[:, j] = frame[profile].to_numpy(float)
    position = {profile: j for j, profile in enumerate(used)}
    columns = [position.get(n, len(used)) if isinstance(n, str) else len(used) for n in names]
    return ScaledProfiles.of(relative, np.array(columns, dtype=np.int64),
                             table[column].to_numpy(float))


def standard_profiles(net: pp.pandapowerNet) -> Profiles:
    """SimBench's standard household and PV profiles for a net without its own (see the module
    docstring for how they are assigned and scaled)."""
    households, pv = _standard_data()
    kinds = np.arange(len(net.load)) % len(HOUSEHOLD_PROFILES)
    steps = len(pv[PV_PROFILE])
    rating = net.sgen["sn_mva"].to_numpy(float) if "sn_mva" in net.sgen else np.full(
        len(net.sgen), np.nan)  # fmt: skip
    rating = np.where(np.isfinite(rating) & (rating > 0), rating, net.sgen["p_mw"].to_numpy(float))
    n_sgen = len(net.sgen)
    return Profiles(
        *(ScaledProfiles.of(np.column_stack([households[f"{k}_{x}load"]
                                             for k in HOUSEHOLD_PROFILES]),
                            kinds, net.load[column].to_numpy(float))
          for x, column in (("p", "p_mw"), ("q", "q_mvar"))),
        ScaledProfiles.of(pv[PV_PROFILE][:, None], np.zeros(n_sgen), rating),
        ScaledProfiles.of(np.zeros((steps, 1)), np.zeros(n_sgen), np.ones(n_sgen)),
        pv_per_kw=pv[PV_PROFILE],
    )


@functools.lru_cache(maxsize=1)
def _standard_data() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """SimBench's household load profiles and its PV profile, relative, read once per process
    from the package's data set (a quarter of a second)."""
    import simbench

    folder = Path(simbench.__file__).parent / "networks" / _SIMBENCH_DATA
    columns = [f"{k}_{x}load" for k in HOUSEHOLD_PROFILES for x in "pq"]

    def read(name: str, usecols: list[str]) -> dict[str, np.ndarray]:
        frame = pd.read_csv(folder / name, sep=";", usecols=usecols, dtype="float64")
        out = {c: frame[c].to_numpy() for c in usecols}
        for array in out.values():
            array.flags.writeable = False
        return out

    return read("LoadProfile.csv", columns), read("RESProfile.csv", [PV_PROFILE])


def _read_json(path: Path) -> pp.pandapowerNet:
    if not path.is_file():
        raise GridModelError(f"no such feeder file: {path}")
    try:
        net = pp.from_json(str(path))
    except Exception as exc:  # noqa: BLE001 - pandapower fails in many ways on a bad file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GridModelError(f"{path} is not a pandapower JSON net: {reason}") from None
    if not isinstance(net, pp.pandapowerNet) or "bus" not in net or not len(net.bus):
        raise GridModelError(f"{path} holds no pandapower net with buses")
    return net
