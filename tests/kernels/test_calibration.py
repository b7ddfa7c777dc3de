"""The auto backend's calibration: measured once per machine, cached, never slower than the
reference. Timings are faked where a test is about the decision rule, not about speed."""

from __future__ import annotations

import json

import pytest

import kernels
from kernels import cache_folder, calibration


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """A fresh cache folder, and auto deciding afresh in this process."""
    monkeypatch.setenv(cache_folder.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    monkeypatch.setattr(kernels, "_auto_choices", {})
    return tmp_path / "cache"


def _fake_seconds(monkeypatch, seconds: dict[str, float]) -> list[str]:
    """Time each backend's run as ``seconds`` says; returns the backends timed, in order."""
    timed: list[str] = []

    def fake(run, backend):
        timed.append(backend)
        return seconds[backend]

    monkeypatch.setattr(calibration, "_seconds", fake)
    return timed


def test_a_fresh_cache_folder_gets_a_measured_choice_and_a_file(cache):
    choice = calibration.choose("sha256_batch", ("cpu",))
    assert choice.measured and choice.backend in ("reference", "cpu")
    assert set(choice.seconds) == {"reference", "cpu"}
    assert choice.backend == calibration.decide(choice.seconds)
    content = json.loads(calibration.cache_path().read_text())
    assert calibration.cache_path().parent == cache
    assert content["identity"] == calibration.identity()
    assert content["choices"]["sha256_batch"]["backend"] == choice.backend
    assert not [p for p in cache.iterdir() if p.suffix == ".tmp"]


def test_a_second_call_reads_the_file_and_measures_nothing(cache, monkeypatch):
    first = calibration.choose("merkle_root", ("cpu",))

    def no_workload():
        raise AssertionError("measured again")

    monkeypatch.setitem(calibration.WORKLOADS, "merkle_root", no_workload)
    again = calibration.choose("merkle_root", ("cpu",))
    assert not again.measured
    assert (again.backend, again.seconds) == (first.backend, first.seconds)


def test_a_slower_cpu_backend_makes_auto_choose_the_reference(cache, monkeypatch):
    timed = _fake_seconds(monkeypatch, {"reference": 0.001, "cpu": 0.002})
    assert kernels._auto_choice("sha256_batch") == "reference"
    assert timed.count("cpu") == timed.count("reference") == calibration.REPEATS
    got = kernels.sha256_batch([b"abc", b""])
    assert (got == kernels.sha256_batch([b"abc", b""], backend="reference")).all()


def test_a_faster_cpu_backend_is_chosen_and_equal_times_keep_the_reference(cache, monkeypatch):
    _fake_seconds(monkeypatch, {"reference": 0.002, "cpu": 0.001})
    assert calibration.choose("sha256_batch", ("cpu",)).backend == "cpu"
    _fake_seconds(monkeypatch, {"reference": 0.001, "cpu": 0.001})
    assert calibration.choose("merkle_root", ("cpu",)).backend == "reference"


def test_a_backend_that_fails_is_never_chosen(cache, monkeypatch):
    workload = calibration.WORKLOADS["sha256_batch"]

    def failing_cpu():
        run = workload()

        def broken(backend):
            if backend == "cpu":
                raise RuntimeError("no such instruction")
            return run(backend)

        return broken

    monkeypatch.setitem(calibration.WORKLOADS, "sha256_batch", failing_cpu)
    choice = calibration.choose("sha256_batch", ("cpu",))
    assert choice.backend == "reference" and set(choice.seconds) == {"reference"}


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        json.dumps(
            {
                "format": calibration.FORMAT,
                "identity": {"cpu_model": "another"},
                "choices": {"sha256_batch": {"backend": "cpu", "seconds": {"cpu": 1.0}}},
            }
        ),
        json.dumps({"format": calibration.FORMAT, "identity": "ours", "choices": []}),
    ],
    ids=["corrupt", "not an object", "another machine's", "wrong shapes"],
)
def test_a_corrupt_or_foreign_file_is_ignored_and_measured_again(cache, monkeypatch, content):
    path = calibration.cache_path()
    path.parent.mkdir(parents=True)
    path.write_text(content)
    timed = _fake_seconds(monkeypatch, {"reference": 0.001, "cpu": 0.002})
    choice = calibration.choose("sha256_batch", ("cpu",))
    assert choice.measured and choice.backend == "reference" and timed
    saved = json.loads(path.read_text())
    assert saved["identity"] == calibration.identity()
    assert saved["choices"]["sha256_batch"]["backend"] == "reference"


def test_an_unwritable_cache_folder_still_decides(cache, monkeypatch, caplog):
    cache.parent.joinpath("cache").write_text("a file where the folder should be")
    _fake_seconds(monkeypatch, {"reference": 0.002, "cpu": 0.001})
    assert calibration.choose("sha256_batch", ("cpu",)).backend == "cpu"
    assert "cannot save the auto backends" in caplog.text
