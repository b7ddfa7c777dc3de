"""The Numba CPU SHA-256 and Merkle backends agree with hashlib (the reference)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels import sha256_cpu
from kernels.merkle_rule import EMPTY_ROOT

EDGE_LENGTHS = [0, 1, 31, 32, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000]


def test_sha256_edge_lengths_match_hashlib():
    messages = [bytes((i * 7 + n) % 256 for i in range(n)) for n in EDGE_LENGTHS]
    got = kernels.sha256_batch(messages, backend="cpu")
    assert got.shape == (len(messages), 32) and got.dtype == np.uint8
    assert [row.tobytes() for row in got] == [hashlib.sha256(m).digest() for m in messages]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=40))
def test_sha256_any_batch_matches_reference(messages):
    assert np.array_equal(
        kernels.sha256_batch(messages, backend="cpu"),
        kernels.sha256_batch(messages, backend="reference"),
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=70))
def test_merkle_root_matches_reference(leaves):
    assert kernels.merkle_root(leaves, backend="cpu") == kernels.merkle_root(
        leaves, backend="reference"
    )


def test_merkle_rule_by_hand():
    a, b, c = b"a" * 32, b"b" * 32, b"c" * 32

    def leaf(x):
        return hashlib.sha256(b"\x00" + x).digest()

    def node(x, y):
        return hashlib.sha256(b"\x01" + x + y).digest()

    assert kernels.merkle_root([], backend="cpu") == EMPTY_ROOT
    assert kernels.merkle_root([a], backend="cpu") == leaf(a)
    assert kernels.merkle_root([a, b, c], backend="cpu") == node(node(leaf(a), leaf(b)), leaf(c))


def test_merkle_leaves_of_other_lengths():
    leaves = [bytes([i]) * i for i in range(0, 90, 7)]
    assert kernels.merkle_root(leaves, backend="cpu") == kernels.merkle_root(
        leaves, backend="reference"
    )


def test_large_batch_spans_many_tasks():
    messages = [i.to_bytes(8, "little") * 8 for i in range(5000)]
    assert np.array_equal(
        kernels.sha256_batch(messages, backend="cpu"),
        kernels.sha256_batch(messages, backend="reference"),
    )
    leaves = [hashlib.sha256(m).digest() for m in messages[:4097]]
    assert kernels.merkle_root(leaves, backend="cpu") == kernels.merkle_root(
        leaves, backend="reference"
    )


@pytest.mark.parametrize("sha_ni", [False, True])
def test_both_cpu_paths_agree_with_reference(monkeypatch, sha_ni):
    """The SHA-NI path (where the CPU has it) and the portable 16-lane path."""
    if sha_ni and not sha256_cpu.HAS_SHA_NI:
        pytest.skip("this CPU has no SHA extensions")
    monkeypatch.setattr(sha256_cpu, "HAS_SHA_NI", sha_ni)
    messages = [bytes([i % 251]) * (i % 150) for i in range(300)]
    assert np.array_equal(
        sha256_cpu.sha256_batch(messages), kernels.sha256_batch(messages, backend="reference")
    )
    leaves = [m[:32].ljust(32, b"\x07") for m in messages[:77]]
    assert sha256_cpu.merkle_root(leaves) == kernels.merkle_root(leaves, backend="reference")
