"""Backend selection: explicit names, the environment variable, "auto", bad names."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

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


def test_without_a_cuda_driver_auto_does_not_import_numba_cuda():
    """No driver library opens here (no machine of the project has a GPU): auto knows there
    is no GPU without numba-cuda, whose import cost every kernel-running process 0.3 s."""
    code = ("import sys, kernels; kernels.sha256_batch([b'x']); "
            "print(kernels._gpu_usable(), 'numba.cuda' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60, env=env).stdout
    assert out.split() == ["False", "False"]


def test_the_driver_is_looked_for_where_numba_cuda_looks(monkeypatch):
    opened: list[str] = []

    def driver(path):
        opened.append(path)
        if path != "/usr/lib/libcuda.so.1":
            raise OSError(f"{path}: cannot open shared object file")

    with monkeypatch.context() as patch:
        patch.setattr(kernels.sys, "platform", "linux")
        patch.setattr(kernels.ctypes, "CDLL", driver)
        assert kernels._cuda_driver_opens()
    assert opened == ["libcuda.so", "libcuda.so.1", "/usr/lib/libcuda.so", "/usr/lib/libcuda.so.1"]


def test_where_a_cuda_driver_opens_numba_cuda_decides(monkeypatch):
    from kernels import cuda_backend

    monkeypatch.setattr(kernels, "_cuda_driver_opens", lambda: True)
    asked: list[bool] = []
    monkeypatch.setattr(cuda_backend, "is_usable", lambda: asked.append(True) or False)
    kernels._gpu_usable.cache_clear()
    try:
        assert kernels._gpu_usable() is False and asked == [True]
    finally:
        kernels._gpu_usable.cache_clear()
