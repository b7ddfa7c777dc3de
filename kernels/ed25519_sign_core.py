"""Ed25519 signing (RFC 8032, pure Ed25519), written once for Numba's CPU and CUDA targets.

A signer's key arrives expanded (kernels.ed25519_signing_keys): ``secret`` is 64 bytes, the
scalar a mod L (the clamped first half of SHA-512(seed), reduced) and then the prefix (the
second half); ``public`` is A = [a]B encoded. For a message M:

1. r = SHA-512(prefix || M) mod L (``nonce``);
2. R = [r]B from B's comb (kernels.ed25519_tables.base_multiply), encoded;
3. S = (r + SHA-512(R || A || M) a) mod L (``respond``); the signature is R || S.

Ed25519 is deterministic, so every step is exact and the signature is bit for bit the one
`cryptography` (OpenSSL) makes. The field, point, scalar and SHA-512 code is verification's
(kernels.ed25519_field, ed25519_core, sha512_core). Nothing that touches a or r branches or
picks an address by their value: the comb is read whole and the wanted entry kept by masks,
and the scalar reduction is branch-free.

``sign_one`` is one signature with np.uint64 limbs (a CUDA thread); ``base_encodings`` encodes
[r]B for eight scalars per u64x8 group (the CPU), one field inversion for a whole run of groups.
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

from kernels.ed25519_core import (
    DIGITS,
    SCALAR_LIMBS,
    encode_point,
    load_scalar,
    recode_limbs,
    reduce_digest,
    scalar_muladd,
    scalar_to_bytes,
)
from kernels.ed25519_field import FE_LIMBS, fe_canonical, fe_invert, fe_mul, fe_parity
from kernels.ed25519_tables import base_multiply, load_fe_lanes, normalise_lanes, store_fe_lanes
from kernels.lanes import LANES, lanes_store
from kernels.sha512_core import sha512_ram

SECRET_BYTES = 64  # a mod L || prefix
_FE = FE_LIMBS * LANES


@register_jitable
def nonce(secret, data, start, length, sha_u64, sha_u8, wide, r):
    """r[0:13] = SHA-512(prefix || M) mod L, M = data[start:start+length]; wide: 25 int64."""
    prefix = secret[32:64]
    sha512_ram(prefix, prefix, 32, data, start, length, sha_u64[0:8], sha_u64[8:88], sha_u8)
    reduce_digest(sha_u8, wide)
    for j in range(SCALAR_LIMBS):
        r[j] = wide[j]


@register_jitable
def respond(secret, public, data, start, length, r, sig, sha_u64, sha_u8, wide, k, a):
    """sig[32:64] = S = (r + SHA-512(R || A || M) a) mod L, with R already in sig[0:32].
    k and a: 13 int64 of scratch."""
    sha512_ram(sig, public, 64, data, start, length, sha_u64[0:8], sha_u64[8:88], sha_u8)
    reduce_digest(sha_u8, wide)
    for j in range(SCALAR_LIMBS):
        k[j] = wide[j]
    load_scalar(secret[0:32], a)
    scalar_muladd(k, a, r, wide)
    scalar_to_bytes(wide, sig[32:64])


@register_jitable
def sign_one(
    secret, public, data, start, length, b_comb, sig, sha_u64, sha_u8, wide, scalars, digits
):
    """sig[0:64] = the signature of data[start:start+length] (one signature, scalar limbs).

    Scratch: sha_u64 (88) uint64, sha_u8 (64) uint8, wide (25) int64, scalars (3, 13) int64,
    digits (64) int64.
    """
    r = scalars[0]
    nonce(secret, data, start, length, sha_u64, sha_u8, wide, r)
    recode_limbs(r, digits)
    p = base_multiply(b_comb, digits)
    z_inverse = fe_invert(p[2])
    encode_point(fe_canonical(fe_mul(p[1], z_inverse)), fe_parity(fe_mul(p[0], z_inverse)), sig)
    respond(
        secret, public, data, start, length, r, sig, sha_u64, sha_u8, wide, scalars[1], scalars[2]
    )


@register_jitable
def base_encodings(scalars, b_comb, out):
    """out[i, 0:32] = the encoding of [scalars[i]]B for every row (21-bit limbs, below L),
    eight rows per u64x8 group and one inversion for all the groups' Z."""
    n = scalars.shape[0]
    groups = (n + LANES - 1) // LANES
    digits = np.zeros((DIGITS, LANES), np.int64)
    lane_digits = np.empty(DIGITS, np.int64)
    points = np.empty((groups, 3, FE_LIMBS, LANES), np.uint64)
    for g in range(groups):
        for lane in range(LANES):
            i = g * LANES + lane
            if i < n:
                recode_limbs(scalars[i], lane_digits)
                digits[:, lane] = lane_digits
            else:
                digits[:, lane] = 0  # the identity: Z = 1, harmless to the shared inversion
        p = base_multiply(b_comb, digits)
        for c in range(3):
            store_fe_lanes(points, (3 * g + c) * _FE, p[c])
    normalise_lanes(points, groups)
    y = np.empty((FE_LIMBS, LANES), np.uint64)
    parity = np.empty(LANES, np.uint64)
    for g in range(groups):
        x_lanes = load_fe_lanes(points, 3 * g * _FE)
        store_fe_lanes(y, 0, fe_canonical(load_fe_lanes(points, (3 * g + 1) * _FE)))
        lanes_store(parity, 0, fe_parity(x_lanes))
        for lane in range(min(LANES, n - g * LANES)):
            encode_point(y[:, lane], parity[lane], out[g * LANES + lane])
