"""A small Dask cluster for the sweep tests: two worker processes on loopback, one thread each,
shared by the tests of this folder and closed after them."""

import pytest

from testbed.sweep.cluster import local_cluster

CLOSE_TIMEOUT_S = 30


@pytest.fixture(scope="package")
def scheduler():
    """The address of a running LocalCluster's scheduler."""
    cluster = local_cluster(workers=2)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close(timeout=CLOSE_TIMEOUT_S)


BASE_SCENARIO = """
# Half an hour of a July noon on a small SimBench feeder (13 homes, one of them physical and
# emulated, as in the default scenario): a cell takes about a second on a warm worker.
name = "sweep-test"
[grid]
feeder = "1-LV-rural1--0-sw"
vm_max_pu = 1.03
[time]
start = 2016-07-21T11:00:00Z   # a TOML date-time: the start axis must still win
duration_hours = 0.5
[households]
seed = 7
[[physical]]
home = "home-04"
inverter = { resource = "emulated", profile = "testbed-pv-inverter", max_export_kw = 10.0 }
meter = { resource = "emulated", profile = "testbed-meter" }
"""


@pytest.fixture(scope="package")
def base_scenario():
    return BASE_SCENARIO


@pytest.fixture
def spec_file(tmp_path):
    """Write a sweep spec (and the base scenario beside it); returns its path."""
    (tmp_path / "base.toml").write_text(BASE_SCENARIO)

    def write(text: str, name: str = "sweep.toml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
