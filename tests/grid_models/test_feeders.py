"""Loading feeders: built-ins, SimBench codes with profiles, JSON files, and bad input."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pytest
import simbench

from grid_models import BUILTINS, GridModelError, load_feeder


def test_builtin_feeder_knows_its_households(cigre):
    assert cigre.name == "cigre_lv"
    assert cigre.load_bus == dict(zip(cigre.net.load.index, cigre.net.load["bus"]))
    assert set(BUILTINS) >= {"cigre_lv", "kerber_landnetz_kabel_1", "kerber_dorfnetz"}


def test_simbench_feeder_has_a_year_of_profiles_in_table_order(semiurb):
    profiles = semiurb.profiles
    assert profiles.steps == 35_136  # 366 days of quarter-hours (2016)
    assert profiles.load_p_mw.shape == (35_136, len(semiurb.net.load))
    assert profiles.sgen_p_mw.shape == (35_136, len(semiurb.net.sgen))
    assert profiles.sgen_q_mvar.shape == profiles.sgen_p_mw.shape
    reference = simbench.get_absolute_values(semiurb.net, profiles_instead_of_study_cases=True)
    last = semiurb.net.load.index[-1]
    np.testing.assert_array_equal(profiles.load_p_mw[:, -1], reference[("load", "p_mw")][last])
    for (element, column), ours in ((("load", "p_mw"), profiles.load_p_mw),
                                    (("load", "q_mvar"), profiles.load_q_mvar),
                                    (("sgen", "p_mw"), profiles.sgen_p_mw)):
        theirs = reference[(element, column)].reindex(columns=semiurb.net[element].index)
        np.testing.assert_array_equal(np.asarray(ours), theirs.to_numpy(float))  # bit for bit
        np.testing.assert_array_equal(ours[[5, 7], 1:3], theirs.to_numpy(float)[[5, 7], 1:3])
    assert set(semiurb.sgen_bus.values()) <= set(semiurb.net.bus.index)
    one = profiles.at(100)
    np.testing.assert_array_equal(one.load_q_mvar, profiles.load_q_mvar[100])


def test_json_round_trip(tmp_path, kerber):
    path = tmp_path / "feeder.json"
    pp.to_json(kerber.net, str(path))
    feeder = load_feeder(str(path))
    assert feeder.name == "feeder.json"
    assert feeder.load_bus == kerber.load_bus


@pytest.mark.parametrize(
    "make_spec, message",
    [
        (lambda tmp: "1-LV-nowhere--0-sw", "unknown feeder"),
        (lambda tmp: "cigre_hv_typo", "unknown feeder"),
        (lambda tmp: str(tmp / "missing.json"), "no such feeder file"),
        (lambda tmp: _write(tmp / "broken.json", "{not json"), "not a pandapower JSON net"),
        (
            lambda tmp: _write(tmp / "list.json", "[1, 2, 3]"),
            "not a pandapower JSON net|no pandapower",
        ),
    ],
)
def test_bad_specs_give_one_line_errors(tmp_path, make_spec, message):
    with pytest.raises(GridModelError, match=message) as info:
        load_feeder(make_spec(tmp_path))
    assert "\n" not in str(info.value)


def _write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_a_builtin_feeder_gets_simbench_standard_profiles(cigre, semiurb):
    profiles, net = cigre.profiles, cigre.net
    assert profiles.steps == semiurb.profiles.steps == 35_136
    assert profiles.load_p_mw.shape == (35_136, len(net.load))
    assert profiles.sgen_p_mw.shape == (35_136, len(net.sgen))
    # SimBench's own scaling: a relative household profile times the load's p_mw (q: q_mvar)
    own = semiurb.net.load.reset_index(drop=True)
    h0a = np.flatnonzero(own["profile"] == "H0-A")[0]
    relative = semiurb.profiles.load_p_mw[:, h0a] / own.at[h0a, "p_mw"]
    np.testing.assert_allclose(profiles.load_p_mw[:, 0], relative * net.load["p_mw"].iloc[0])
    assert not np.allclose(profiles.load_p_mw[:, 1] / net.load["p_mw"].iloc[1], relative)  # H0-B
    # the default feeder's PV profile, per kW of rating: its generator's over its rating
    pv = semiurb.profiles.sgen_p_mw[:, 0] / semiurb.net.sgen["p_mw"].iloc[0]
    np.testing.assert_allclose(semiurb.profiles.pv_per_kw, pv)
    np.testing.assert_allclose(profiles.pv_per_kw, pv)
    rating = net.sgen["sn_mva"].to_numpy()
    np.testing.assert_allclose(profiles.sgen_p_mw, pv[:, None] * rating[None, :])
    with pytest.raises(TypeError):
        profiles.load_p_mw[0, 0] = 1.0  # read-only: computed from relative profiles
    assert not profiles.load_p_mw.relative.flags.writeable
    np.testing.assert_array_equal(profiles.head(10).load_p_mw, profiles.load_p_mw[:10])


def test_a_feeder_without_generators_still_has_a_pv_profile(kerber):
    assert len(kerber.net.sgen) == 0
    assert kerber.profiles.sgen_p_mw.shape == (35_136, 0)
    assert kerber.profiles.pv_per_kw.max() > 0.5
