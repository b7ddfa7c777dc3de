"""Export limits on hand-built feeders where the binding limit and the order of cuts are known."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandapower as pp
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grid_models import (
    GridModelError,
    Injections,
    Inverters,
    InverterSettings,
    Limits,
    Profiles,
    compile_net,
    export_limits,
    export_limits_batch,
    load_feeder,
)
from tests.grid_models.conftest import doubled_pv_intervals, radial_feeder

PLANNING = Limits(vm_max_pu=1.05)
NO_FUNCTIONS = InverterSettings(volt_var=None, volt_watt=None)
CONSUMPTION_KW = 1.0


def chain(slack_pu: float = 1.0):
    """Four 150 m sections of NAYY 4x150 below a 0.4 MVA transformer, a home at each bus."""
    net, _ = radial_feeder(4, 0.15, None, slack_pu=slack_pu, load_mw=0.0)
    return net, compile_net(net)


@pytest.fixture(scope="module")
def feeder():
    return chain()


def interval(pv_kw, q_kvar=0.0) -> Injections:
    """Each home consumes 1 kW; its PV at ``pv_kw`` is in its net power."""
    pv = np.asarray(pv_kw, dtype=float)
    return Injections((CONSUMPTION_KW - pv) / 1000.0, np.full(len(pv), q_kvar / 1000.0),
                      np.zeros(0), np.zeros(0))  # fmt: skip


def limit(model, pv_kw, contracted=None, settings=NO_FUNCTIONS, rated=100.0, limits=PLANNING):
    pv = np.asarray(pv_kw, dtype=float)
    inverters = Inverters(np.full(len(pv), rated), pv, settings=settings)
    return export_limits(model, interval(pv), inverters, contracted, limits)


def vm_with_export(net, home: int, export_kw: float, pv_kw) -> float:
    """Highest voltage when home ``home`` exports ``export_kw`` and the others as given."""
    net = copy.deepcopy(net)
    net.load["p_mw"] = (CONSUMPTION_KW - np.asarray(pv_kw, dtype=float)) / 1000.0
    net.load.loc[home, "p_mw"] = -export_kw / 1000.0
    pp.runpp(net)
    return float(net.res_bus["vm_pu"].max())


def test_nothing_to_do_within_limits(feeder):
    _, model = feeder
    result = limit(model, [0, 0, 5, 5])
    assert np.isinf(result.limit_kw).all()
    assert (result.export_limited_kw == 0).all() and result.violations.violations == ()


def test_the_far_end_is_limited_first_to_the_watt(feeder):
    net, model = feeder
    pv = [0.0, 0.0, 41.0, 41.0]  # two homes export 40 kW each: far end about 1.065 pu
    result = limit(model, pv)
    assert np.isinf(result.limit_kw[:3]).all()  # the nearer home keeps its export
    far = result.limit_kw[3]
    assert 0 < far < 40 and far * 1000 == pytest.approx(round(far * 1000), abs=1e-6)  # watts
    binding = result.binding[3]
    assert (binding.element, binding.kind, binding.limit) == ("bus 5", "voltage_high", 1.05)
    assert result.result.vm_pu.max() <= 1.05
    assert vm_with_export(net, 3, far + 0.002, pv) > 1.05  # two watts more would violate
    assert result.export_limited_kw[3] == pytest.approx(40.0 - far, abs=1e-6)
    assert result.violations.violations == ()


def test_contracted_export_is_cut_only_after_every_uncontracted_export(feeder):
    _, model = feeder
    pv = [0.0, 0.0, 41.0, 41.0]
    near_sold = limit(model, pv, contracted=[0, 0, 40.0, 0])  # the near home's export is sold
    assert near_sold.limit_kw[2] == np.inf and near_sold.contracted_shortfall_kw.sum() == 0
    far_sold = limit(model, pv, contracted=[0, 0, 0, 40.0])  # now the far home's is
    assert far_sold.limit_kw[3] == np.inf  # the far home is not limited ...
    assert far_sold.limit_kw[2] < 40.0  # ... as long as the near one's uncontracted can go
    both_sold = limit(model, pv, contracted=[0, 0, 40.0, 40.0])
    assert both_sold.contracted_shortfall_kw[3] > 0  # contracted export, sensitivity-ordered
    assert both_sold.contracted_shortfall_kw[2] == 0
    assert both_sold.result.vm_pu.max() <= 1.05


def test_uncontracted_is_limited_before_a_partly_sold_home_loses_its_sales(feeder):
    _, model = feeder
    pv = [0.0, 0.0, 0.0, 81.0]  # 80 kW of export, 50 kW of it sold
    result = limit(model, pv, contracted=[0, 0, 0, 50.0])
    allowed = result.limit_kw[3]
    assert 50.0 < allowed < 80.0  # the uncontracted 30 kW gave way first
    assert result.contracted_shortfall_kw[3] == 0 and result.binding[3].kind == "voltage_high"


def test_the_substation_voltage_is_named_when_nothing_helps():
    _, model = chain(slack_pu=1.06)
    result = limit(model, [0.0, 0.0, 21.0, 21.0])
    assert (result.limit_kw[2:] == 0).all()  # every export that raised it was cut
    causes = {(v.kind, v.cause) for v in result.violations.violations}
    assert causes == {("voltage_high", "substation_voltage")}
    assert result.violations.counts()["voltage_high"] == 6  # all buses: the slack too
    assert result.violations.unavoidable == result.violations.violations


def test_export_without_an_inverter_is_uncontrolled(feeder):
    _, model = feeder
    pv = np.array([0.0, 0.0, 41.0, 81.0])
    inverters = Inverters(np.array([100.0, 100.0, 100.0, 0.0]), pv, settings=NO_FUNCTIONS)
    result = export_limits(model, interval(pv), inverters, None, PLANNING)
    assert result.limit_kw[2] == 0  # the only export the operator controls
    assert np.isinf(result.limit_kw[3])
    (left,) = result.violations.violations
    assert (left.element, left.cause) == ("bus 5", "uncontrolled_export")


def test_an_undervoltage_is_demand_and_costs_no_export(feeder):
    _, model = feeder
    heavy = Injections(np.array([0.08, 0.08, 0.06, 0.07]), np.zeros(4), np.zeros(0), np.zeros(0))
    pv = np.array([0.0, 0.0, 5.0, 0.0])
    inverters = Inverters(np.full(4, 10.0), pv, settings=NO_FUNCTIONS)
    result = export_limits(model, heavy, inverters)
    assert np.isinf(result.limit_kw).all()  # cutting PV would only deepen it
    left = result.violations.violations
    assert {v.cause for v in left} == {"demand"}  # an undervoltage, and an overload by imports
    assert {v.kind for v in left} == {"voltage_low", "line_loading"}


def test_volt_var_and_volt_watt_are_attributed():
    _, model = chain(slack_pu=1.05)
    pv = np.array([0.0, 20.0, 41.0, 41.0])
    band = Limits(vm_max_pu=1.07)
    result = limit(model, pv, settings=InverterSettings(), rated=45.0, limits=band)
    assert (result.q_kvar[1:] < 0).all()  # volt-var absorbs above 1.02 pu
    assert result.volt_watt_kw[3] > 0  # the far end is past 1.06 pu
    assert (result.volt_watt_kw >= 0).all() and (result.export_limited_kw >= 0).all()
    assert (result.volt_watt_kw + result.export_limited_kw <= pv + 1e-9).all()
    assert np.nanmax(result.result.vm_pu) <= 1.07
    off = limit(model, pv, settings=NO_FUNCTIONS, rated=45.0, limits=band)
    assert off.volt_watt_kw.sum() == 0 and (off.q_kvar == 0).all()
    given_up = result.export_limited_kw.sum() + result.volt_watt_kw.sum()
    assert given_up < off.export_limited_kw.sum()  # volt-var lowers what must be given up


def test_a_batch_answers_as_each_interval_alone(feeder):
    _, model = feeder
    pv = np.array([[0.0, 0.0, 41.0, 41.0], [0.0, 30.0, 30.0, 30.0], [0.0, 0.0, 0.0, 5.0]])
    contracted = np.array([[0, 0, 0, 10.0], [0, 0, 0, 0], [0, 0, 0, 4.0]])
    intervals = Profiles((CONSUMPTION_KW - pv) / 1000, np.zeros((3, 4)), np.zeros((3, 0)),
                         np.zeros((3, 0)))  # fmt: skip
    batch = export_limits_batch(model, intervals, Inverters(np.full(4, 100.0), pv), contracted,
                                PLANNING)  # fmt: skip
    for t in range(3):
        alone = limit(model, pv[t], contracted[t], settings=InverterSettings())
        assert np.array_equal(alone.limit_kw, batch[t].limit_kw)
        assert np.array_equal(alone.q_kvar, batch[t].q_kvar)
        assert alone.binding == batch[t].binding


def test_bad_inputs_are_one_line_errors(feeder):
    _, model = feeder
    pv = np.array([0.0, 0.0, 5.0, 5.0])
    good = Inverters(np.full(4, 10.0), pv)
    with pytest.raises(GridModelError, match="contracted_kw"):
        export_limits(model, interval(pv), good, np.array([0, 0, -1.0, 0]))
    with pytest.raises(GridModelError, match="available_kw"):
        export_limits(model, interval(pv), dataclasses.replace(good, available_kw=pv[:3]))
    with pytest.raises(GridModelError, match="base injections"):
        export_limits(model, dataclasses.replace(interval(pv), load_p_mw=np.zeros(3)), good)


def test_the_default_neighbourhood_keeps_its_planning_band():
    """41 homes on semiurb4, 40 % with 6-16 kWp, a 1.03 pu band: the year's intervals that
    would exceed the band (with the PV doubled, so that there are many) end within it."""
    feeder = load_feeder("1-LV-semiurb4--0-sw")
    intervals, inverters, lowest_peak_pu = doubled_pv_intervals(60)
    assert lowest_peak_pu > 1.03
    band = Limits(vm_max_pu=1.03)
    results = export_limits_batch(feeder, intervals, inverters, None, band)
    assert all(r.violations.violations == () for r in results)
    assert max(np.nanmax(r.result.vm_pu) for r in results) <= 1.03
    assert sum(r.export_limited_kw.sum() for r in results) > 0


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pv=st.lists(st.floats(0.0, 60.0), min_size=4, max_size=4),
    sold=st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4),
)
@example(pv=[0.0, 1.28125, 9.0, 60.0], sold=[0.0, 1.0, 1.0, 1.0])  # 0.25 W uncontracted: no unit
def test_any_interval_ends_within_limits_uncontracted_first(feeder, pv, sold):
    """On a chain every export raises the far end, so contracted export is only short once
    every home's uncontracted export is gone."""
    _, model = feeder
    pv = np.array(pv)
    export = np.maximum(pv - CONSUMPTION_KW, 0.0)
    contracted = np.floor(export * np.array(sold) * 1000) / 1000  # whole watts it can deliver
    result = limit(model, pv, contracted=contracted)
    assert all(v.cause is not None for v in result.violations.violations)
    if not result.violations.violations:
        assert np.nanmax(result.result.vm_pu) <= PLANNING.vm_max_pu
    finite = np.isfinite(result.limit_kw)
    watts = result.limit_kw[finite] * 1000
    np.testing.assert_allclose(watts, np.round(watts), rtol=0, atol=1e-6)  # whole watts
    assert (result.limit_kw[finite] <= export[finite] + 1e-9).all()
    if (result.contracted_shortfall_kw > 1e-6).any():
        uncontracted_left = result.limit_kw > contracted + 1e-9
        uncontracted_w = np.round((export - contracted) * 1000)  # the rule's units: whole watts
        assert not (uncontracted_left & (uncontracted_w > 0)).any()
