"""Backend selection: explicit names, the environment variable, "auto", bad names."""

from __future__ import annotations

import json
import logging

import pytest

import kernels
from kernels import cache_folder, calibration
from kernels.errors import KernelError


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(KernelError, match="unknown kernel backend 'gpu'"):
        kernels.sha256_batch([b"x"], backend="gpu")


def test_environment_variable_selects_backend(monkeypatch):
    monkeypatch.setenv(kernels.ENV_VAR, "nonsense")
    with pytest.raises(KernelError, match="nonsense"):
        kernels.merkle_root([b"x"])
    monkeypatch.setenv(kernels.ENV_VAR, "cpu")
    assert kernels.merkle_root([b"x" * 32]) == kernels.merkle_root([b"x" * 32], "reference")


def test_auto_uses_the_measured_choice_and_logs_it_once(monkeypatch, caplog, tmp_path):
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    monkeypatch.setenv(cache_folder.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(kernels, "_auto_choices", {})
    with caplog.at_level(logging.INFO, logger="kernels"):
        for _ in range(3):
            kernels.sha256_batch([b"abc"])
    lines = [r.getMessage() for r in caplog.records if "sha256_batch" in r.getMessage()]
    assert len(lines) == 1
    saved = json.loads(calibration.cache_path().read_text())["choices"]["sha256_batch"]
    assert repr(saved["backend"]) in lines[0]
    assert kernels.auto_backends()["sha256_batch"] == saved["backend"]
