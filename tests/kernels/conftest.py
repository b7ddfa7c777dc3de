"""Shared inputs for the kernel tests: Ed25519 cases built with plain-integer curve arithmetic.

The hard cases need signatures that no signing library will make (small-order and mixed-order
keys and nonces, non-canonical encodings, unreduced S), so they are made here from scratch;
whether each is valid is then decided by `cryptography` (the reference), never by this file.
"""

from __future__ import annotations

import hashlib
import random

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, -1, P) % P
IDENTITY = (0, 1)

RFC8032 = [  # (secret, public key, message, signature), RFC 8032 section 7.1 tests 1-3
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        (
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39"
            "701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ),
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        (
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f36"
            "13d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        ),
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        (
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f7"
            "60984dc6594a7c15e9716ed28dc027beceea1ec40a"
        ),
    ),
]


def add(p1, p2):
    (x1, y1), (x2, y2) = p1, p2
    t = D * x1 * x2 * y1 * y2 % P
    return (
        (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P,
        (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P,
    )


def mul(k, point):
    result = IDENTITY
    while k:
        if k & 1:
            result = add(result, point)
        point = add(point, point)
        k >>= 1
    return result


def neg(point):
    return (-point[0] % P, point[1])


def x_from_y(y, sign):
    """The x with the given low bit, or None when (y^2-1)/(dy^2+1) has no square root."""
    xx = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    x = pow(xx, (P + 3) // 8, P)
    if (x * x - xx) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    if (x * x - xx) % P:
        return None
    return P - x if (x & 1) != sign and x else x


def encode(point, y_offset=0, force_sign=None):
    """Encoding of point; y_offset=P gives the non-canonical y + p (when it fits 255 bits)."""
    x, y = point
    sign = (x & 1) if force_sign is None else force_sign
    return ((y + y_offset) | (sign << 255)).to_bytes(32, "little")


B = (x_from_y(4 * pow(5, -1, P) % P, 0), 4 * pow(5, -1, P) % P)


def _order8_point():
    y = 2
    while True:
        x = x_from_y(y, 0)
        if x is not None:
            q = mul(L, (x, y))
            if mul(4, q) != IDENTITY:
                return q
        y += 1


T8 = _order8_point()
SMALL_ORDER = [mul(i, T8) for i in range(8)]


def challenge(r_bytes, a_bytes, message):
    return int.from_bytes(hashlib.sha512(r_bytes + a_bytes + message).digest(), "little") % L


def sign_raw(a_scalar, a_point, message, rng, a_bytes=None, r_torsion_choices=(IDENTITY,)):
    """A signature (R, S) that satisfies [S]B = R + [k]A exactly (cofactorless).

    A = a_point (= [a]B + torsion), R = [r]B + T for T drawn from r_torsion_choices until
    [k]A's torsion part cancels T (tries a bounded number of nonces).
    """
    a_bytes = a_bytes or encode(a_point)
    torsion_a = add(a_point, neg(mul(a_scalar, B)))
    for _ in range(64):
        r = rng.randrange(1, L)
        t = rng.choice(r_torsion_choices)
        r_bytes = encode(add(mul(r, B), t))
        k = challenge(r_bytes, a_bytes, message)
        if mul(k, torsion_a) == neg(t):
            s = (r + k * a_scalar) % L
            return a_bytes, r_bytes + s.to_bytes(32, "little")
    raise AssertionError("no nonce found")


def _raw_key(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def hard_cases(seed: int = 7) -> list[tuple[str, bytes, bytes, bytes]]:
    """(label, public key, message, signature) for every hard case the issue lists."""
    rng = random.Random(seed)
    msg = b"meter 42 reads 17.3 kWh at 12:00"
    cases = []
    for i, (_, pk, m, sig) in enumerate(RFC8032):
        cases.append((f"rfc8032-{i + 1}", bytes.fromhex(pk), bytes.fromhex(m), bytes.fromhex(sig)))
    a = rng.randrange(1, L)
    a_point = mul(a, B)
    key, sig = sign_raw(a, a_point, msg, rng)
    cases.append(("plain", key, msg, sig))
    s = int.from_bytes(sig[32:], "little")
    cases.append(("S+L", key, msg, sig[:32] + (s + L).to_bytes(32, "little")))
    cases.append(("S=L", key, msg, sig[:32] + L.to_bytes(32, "little")))
    cases.append(("S=2^256-1", key, msg, sig[:32] + b"\xff" * 32))
    cases.append(("S=L-1", key, msg, sig[:32] + (L - 1).to_bytes(32, "little")))
    # R = identity: valid when S = k a; non-canonical encodings of the same R are not.
    for label, r_bytes in [
        ("R=identity", encode(IDENTITY)),
        ("R=identity y+p", encode(IDENTITY, y_offset=P)),
        ("R=identity sign", encode(IDENTITY, force_sign=1)),
    ]:
        k = challenge(r_bytes, key, msg)
        cases.append((label, key, msg, r_bytes + (k * a % L).to_bytes(32, "little")))
    # Small-order and mixed-order keys with signatures that hold without the cofactor.
    for i, t in enumerate(SMALL_ORDER):
        k_bytes, sig = sign_raw(0, t, msg, rng, r_torsion_choices=SMALL_ORDER)
        cases.append((f"A=small order {i}", k_bytes, msg, sig))
        cases.append((f"A=small order {i}, R=[r]B", k_bytes, msg, _plain_r_sig(t, msg, rng)))
        mixed = add(a_point, t)
        k_bytes, sig = sign_raw(a, mixed, msg, rng, r_torsion_choices=SMALL_ORDER)
        cases.append((f"A=mixed order {i}", k_bytes, msg, sig))
        r_mixed = encode(add(mul(rng.randrange(1, L), B), t))
        cases.append((f"R=mixed order {i}", key, msg, r_mixed + sig[32:]))
        cases.append((f"R=small order {i}", key, msg, encode(t) + sig[32:]))
    # Non-canonical keys: y + p for the small-order points whose y < 19, and the sign of x = 0.
    for y in range(19):
        for sign in (0, 1):
            x = x_from_y(y, sign)
            if x is None:
                continue
            point = (x, y)
            nc_key = encode(point, y_offset=P, force_sign=sign)
            if point in SMALL_ORDER:
                _, sig = sign_raw(0, point, msg, rng, a_bytes=nc_key, r_torsion_choices=SMALL_ORDER)
            else:
                sig = bytes(range(64))
            cases.append((f"A=non-canonical y={y} sign={sign}", nc_key, msg, sig))
    ident_neg = encode(IDENTITY, force_sign=1)
    _, sig = sign_raw(0, IDENTITY, msg, rng, a_bytes=ident_neg)
    cases.append(("A=identity with sign bit", ident_neg, msg, sig))
    # Undecodable key: the smallest y with no x.
    y = next(y for y in range(2, 100) if x_from_y(y, 0) is None)
    cases.append(("A=not on curve", y.to_bytes(32, "little"), msg, sig))
    # Degenerate bytes and wrong lengths.
    zero_key, ff_key = bytes(32), b"\xff" * 32
    for label, k_bytes, sig_bytes in [
        ("all zero", zero_key, bytes(64)),
        ("all 0xff", ff_key, b"\xff" * 64),
        ("zero key", zero_key, sig),
        ("ff sig", key, b"\xff" * 64),
        ("key 31 bytes", key[:31], sig),
        ("key 33 bytes", key + b"\x00", sig),
        ("key empty", b"", sig),
        ("sig 63 bytes", key, sig[:63]),
        ("sig 65 bytes", key, sig + b"\x00"),
        ("sig empty", key, b""),
    ]:
        cases.append((label, k_bytes, msg, sig_bytes))
    return cases


def _plain_r_sig(a_point, message, rng):
    """R = [r]B, S = r: valid only when [k]A is the identity (cofactored checks accept more)."""
    r = rng.randrange(1, L)
    r_bytes = encode(mul(r, B))
    return r_bytes + r.to_bytes(32, "little")


def random_batch(count: int, seed: int, keys: int = 8) -> tuple[list, list, list]:
    """count valid signatures by `cryptography` over random messages, from a few keys."""
    rng = random.Random(seed)
    privates = [Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)) for _ in range(keys)]
    pks, msgs, sigs = [], [], []
    for i in range(count):
        private = privates[i % keys]
        message = rng.randbytes(rng.randrange(0, 220))
        pks.append(_raw_key(private))
        msgs.append(message)
        sigs.append(private.sign(message))
    return pks, msgs, sigs


def bit_flips(pk: bytes, msg: bytes, sig: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """Every single-bit flip of signature, public key and message (one at a time)."""
    out = []
    for which, value in enumerate((pk, msg, sig)):
        for bit in range(8 * len(value)):
            flipped = bytearray(value)
            flipped[bit // 8] ^= 1 << (bit % 8)
            parts = [pk, msg, sig]
            parts[which] = bytes(flipped)
            out.append(tuple(parts))
    return out


@pytest.fixture(scope="session")
def ed_hard_cases():
    return hard_cases()


@pytest.fixture(scope="session")
def make_random_batch():
    return random_batch


@pytest.fixture(scope="session")
def make_bit_flips():
    return bit_flips
