"""The project's cache folder: where it is, and files that are written whole or not at all."""

from __future__ import annotations

import os

import pytest

from kernels import cache_folder


def test_the_cache_folder_follows_the_variable_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv(cache_folder.CACHE_ENV, str(tmp_path / "own"))
    assert cache_folder.cache_dir() == tmp_path / "own"
    monkeypatch.delenv(cache_folder.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder.cache_dir() == tmp_path / "xdg" / cache_folder.CACHE_FOLDER
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_folder.cache_dir() == tmp_path / "home" / ".cache" / cache_folder.CACHE_FOLDER


def test_a_file_is_replaced_whole_and_its_folder_made(tmp_path):
    path = tmp_path / "new" / "folder" / "file.bin"
    cache_folder.write_atomically(path, b"first")
    cache_folder.write_atomically(path, b"second, longer")
    assert path.read_bytes() == b"second, longer"
    assert os.listdir(path.parent) == ["file.bin"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_part(tmp_path, monkeypatch):
    path = tmp_path / "file.bin"
    cache_folder.write_atomically(path, b"kept")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        cache_folder.write_atomically(path, b"lost")
    assert path.read_bytes() == b"kept"
    assert os.listdir(tmp_path) == ["file.bin"]


def test_an_unwritable_folder_raises_os_error(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(OSError):
        cache_folder.write_atomically(blocker / "file.bin", b"data")
