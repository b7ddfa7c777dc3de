"""Grid-fee designs: parsed with clear refusals, and turned into the operator's tariff from the
real feeder's topology (path impedance and voltage level, computed once)."""

import numpy as np
import pytest

from grid_models import load_feeder
from grid_models.distance import path_matrices
from testbed.agents.tariff import GridFee, parse_grid_fee, tariff

FEEDER = "1-LV-semiurb4--0-sw"


@pytest.fixture(scope="module")
def net():
    return load_feeder(FEEDER).net


def test_designs_parse_and_print_back():
    for text in ("none", "flat:20", "voltage_level:10,30", "distance:25"):
        assert str(parse_grid_fee(text)) == text
    assert parse_grid_fee("voltage_level:10,30").highest_per_kwh == 30
    assert parse_grid_fee("flat:20").genesis_per_kwh == 20
    assert parse_grid_fee("distance:20").genesis_per_kwh == 0


@pytest.mark.parametrize("text, reason", [
    ("hourly:3", "the mode is one of"), ("flat", "expected 1"), ("flat:-1", "non-negative"),
    ("voltage_level:10", "expected 2"), ("distance:x", "whole currency units"),
])
def test_bad_designs(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_grid_fee(text)


def test_path_matrices_are_symmetric_and_zero_on_the_diagonal(net):
    buses = sorted(set(net.load.bus.tolist()))[:6] + [int(net.ext_grid.bus.iloc[0])]
    m = path_matrices(net, buses)
    assert np.allclose(m.impedance_ohm, m.impedance_ohm.T)
    assert np.all(np.diag(m.impedance_ohm) == 0) and np.all(m.impedance_ohm[:-1, :-1] < 1)
    assert m.max_vn_kv[0, 1] == 0.4 and m.max_vn_kv[0, -1] > 1  # home to home; to the MV side


def test_distance_fees_grow_with_the_path_and_reach_the_rate_at_the_farthest_pair(net):
    homes = net.load.bus.tolist()
    body = tariff(GridFee("distance", (20,)), net, homes, 900)
    n = len(body.buses)
    assert list(body.buses) == sorted(set(homes)) and len(body.pair_per_kwh) == n * n
    fees = np.array(body.pair_per_kwh).reshape(n, n)
    z = path_matrices(net, list(body.buses)).impedance_ohm
    assert fees.max() == 20 and np.all(np.diag(fees) == 0) and np.array_equal(fees, fees.T)
    near, far = np.unravel_index(np.argmin(z + np.eye(n) * 9), z.shape), np.argmax(z)
    assert fees[near] <= fees.flat[far]


def test_voltage_level_fees_and_no_tariff_for_flat_designs(net):
    homes = net.load.bus.tolist()[:3]
    mv = int(net.ext_grid.bus.iloc[0])
    body = tariff(GridFee("voltage_level", (10, 30)), net, [*homes, mv], 0)
    n = len(body.buses)
    fees = np.array(body.pair_per_kwh).reshape(n, n)
    at = body.buses.index(mv)
    assert set(np.delete(np.delete(fees, at, 0), at, 1).flat) == {10}
    assert set(fees[at]) == set(fees[:, at]) == {30}
    assert tariff(GridFee("flat", (5,)), net, homes, 0) is None
    assert tariff(GridFee(), net, homes, 0) is None
