"""SimBench nets are built once per machine: the kept net is simbench's own, bit for bit, and
a damaged, foreign or unwritable cache costs only the time of building it again."""

from __future__ import annotations

import copy

import pandapower as pp
import pandas as pd
import pytest
import simbench

from grid_models import simbench_nets
from grid_models.simbench_nets import cache_path, simbench_net
from kernels import cache_folder

CODE = "1-LV-semiurb4--0-sw"  # the default feeder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """simbench's own net, built through a fresh cache (which keeps it), and that cache."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(cache_folder.CACHE_ENV, str(folder))
        return simbench_net(CODE), folder


@pytest.fixture
def builds(monkeypatch, tmp_path, built):
    """A fresh cache folder, simbench's build counted (and given the net already built)."""
    monkeypatch.setenv(cache_folder.CACHE_ENV, str(tmp_path / "cache"))
    codes: list[str] = []

    def build(code):
        codes.append(code)
        return copy.deepcopy(built[0])

    monkeypatch.setattr(simbench, "get_simbench_net", build)
    return codes


def assert_same(ours, theirs, where="net"):
    """Every table, profile and value the same, exactly."""
    if isinstance(theirs, pd.DataFrame):
        pd.testing.assert_frame_equal(ours, theirs, check_exact=True, obj=where)
    elif isinstance(theirs, dict):  # the net itself, its profiles, its standard types
        assert sorted(ours) == sorted(theirs), where
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}[{key!r}]")
    else:
        assert type(ours) is type(theirs) and ours == theirs, where


def test_the_kept_net_is_simbench_s_own_bit_for_bit(built, monkeypatch):
    net, folder = built
    monkeypatch.setenv(cache_folder.CACHE_ENV, str(folder))
    assert cache_path(CODE).is_file()
    kept = simbench_net(CODE)
    assert isinstance(kept, pp.pandapowerNet) and kept is not net
    assert_same(kept, net)
    assert len(kept.load) > 0 and kept.profiles["load"].shape[0] == 35_136


def test_a_kept_net_is_read_without_building(builds):
    simbench_net(CODE)
    simbench_net(CODE)
    assert builds == [CODE]


def test_each_version_of_the_packages_keeps_its_own_file(builds, monkeypatch):
    simbench_net(CODE)
    first = cache_path(CODE)
    version = simbench_nets.metadata.version
    monkeypatch.setattr(simbench_nets.metadata, "version",
                        lambda name: "0.0" if name == "pandas" else version(name))
    assert cache_path(CODE) != first
    simbench_net(CODE)
    assert builds == [CODE, CODE] and first.is_file() and cache_path(CODE).is_file()


@pytest.mark.parametrize("content", [b"", b"not a pickle", b"\x80\x05K\x01."])
def test_a_damaged_file_is_built_again_and_replaced(builds, content, caplog):
    path = cache_path(CODE)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert_same(simbench_net(CODE), simbench_net(CODE))
    assert builds == [CODE] and "is built again" in caplog.text


def test_a_file_holding_another_net_is_not_taken_for_it(builds, caplog):
    simbench_net(CODE)
    other = "1-LV-rural1--0-sw"
    cache_path(CODE).rename(cache_path(other))
    simbench_net(other)
    assert builds == [CODE, other] and "holds something else" in caplog.text


def test_an_unwritable_cache_folder_still_gives_the_net(builds, tmp_path, caplog):
    (tmp_path / "cache").write_text("a file where the folder should be")
    assert len(simbench_net(CODE).load) > 0
    assert builds == [CODE] and "cannot keep SimBench net" in caplog.text
