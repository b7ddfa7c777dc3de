"""Every transaction type round-trips, and anything not exactly canonical is refused."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.ledger import encoding as enc
from testbed.ledger import transactions as T
from testbed.ledger.encoding import EncodingError
from testbed.ledger.keys import KeyPair
from testbed.ledger.params import TX_VERSION
from testbed.ledger.sealing import SEALED_KEY_BYTES, Opening, Sealed, Wrap
from testbed.ledger.transactions import decode_transaction, sign, sign_batch

KEY = KeyPair.development("encoding")
u8 = st.integers(0, 255)
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
b32 = st.binary(min_size=32, max_size=32)
txt = st.text(max_size=40)

constraint = st.builds(T.Constraint, kind=u8, element=txt, value_micro=i64, limit_micro=i64)
trade = st.builds(T.Trade, bid=b32, offer=b32, energy_wh=u64, price_per_kwh=u64, granted_wh=u64,
                  constraint=constraint)
salt = st.binary(min_size=16, max_size=16)
reveal = st.builds(T.Reveal, order=b32, side=u8, energy_wh=u64, price_per_kwh=u64, salt=salt)
relayed = st.builds(T.RelayedReveal, index=u32, side=u8, energy_wh=u64, price_per_kwh=u64,
                    salt=salt)
payment = st.builds(T.Payment, payer=b32, payee=b32, amount_units=u64, kind=u8)
wrap = st.builds(Wrap, reader=b32, enc=b32,
                 sealed_key=st.binary(min_size=SEALED_KEY_BYTES, max_size=SEALED_KEY_BYTES))
opening = st.builds(Opening, wraps=st.lists(wrap, max_size=3).map(tuple), key_commitment=b32)
sealed = st.builds(Sealed, opening=st.lists(opening, max_size=1).map(tuple),
                   ciphertext=st.binary(max_size=64))
bodies = st.one_of(
    st.builds(T.Genesis, validators=st.lists(b32, max_size=4).map(tuple),
              contract_params=st.binary(max_size=64)),
    st.builds(T.RegisterParticipant, account=b32, bus=u32, role=u8, meter_key=b32,
              view_key=b32),
    st.builds(T.RegisterAuditor, account=b32, view_key=b32),
    st.builds(T.SetValidatorsViewKey, view_key=b32),
    st.builds(T.OrderCommitment, interval=u64, commitment=b32, escrow_units=u64),
    st.builds(T.OrderReveal, reveals=st.lists(reveal, min_size=1, max_size=3).map(tuple)),
    st.builds(T.SealedReading, interval=u64, reading=sealed),
    st.builds(T.Deposit, account=b32, amount_units=u64),
    st.builds(T.SetGridFees, from_interval=u64, flat_per_kwh=u64,
              buses=st.lists(u32, max_size=3).map(tuple),
              pair_per_kwh=st.lists(u32, max_size=9).map(tuple)),
    st.builds(T.Order, interval=u64, side=u8, energy_wh=u64, price_per_kwh=u64),
    st.builds(T.MeterReading, participant=b32, interval=u64, imported_wh=u64, exported_wh=u64),
    st.builds(T.Clearing, interval=u64, price_per_kwh=u64,
              trades=st.lists(trade, max_size=3).map(tuple),
              reveals=st.lists(relayed, max_size=2).map(tuple)),
    st.builds(T.Settlement, interval=u64, payments=st.lists(payment, max_size=3).map(tuple),
              details=st.lists(sealed, max_size=2).map(tuple)),
)


def test_every_body_type_is_covered():
    assert set(T.BODY_TYPES.values()) == {
        T.Genesis, T.RegisterParticipant, T.Deposit, T.Order, T.MeterReading, T.Clearing,
        T.Settlement, T.RegisterAuditor, T.SetValidatorsViewKey, T.OrderCommitment,
        T.OrderReveal, T.SealedReading, T.SetGridFees,
    }


@settings(max_examples=150, deadline=None)
@given(body=bodies, nonce=u64, chain_id=u32)
def test_round_trip(body, nonce, chain_id):
    tx = sign(body, KEY, nonce, chain_id)
    again = decode_transaction(tx.encoded)
    assert again == tx
    assert again.encoded == tx.encoded
    assert again.txid == tx.txid


@settings(max_examples=25, deadline=None)
@given(
    signed=st.lists(st.tuples(bodies, st.integers(0, 3), u64), min_size=1, max_size=12),
    chain_id=u32,
)
def test_batch_signing_makes_the_same_transactions(signed, chain_id):
    keys = [KeyPair.development(f"batch-{i}") for i in range(4)]
    bodies_, signers, nonces = zip(*signed)
    batch = sign_batch(bodies_, [keys[i] for i in signers], nonces, chain_id)
    one_by_one = [sign(b, keys[i], n, chain_id) for b, i, n in signed]
    assert [tx.encoded for tx in batch] == [tx.encoded for tx in one_by_one]
    assert batch == one_by_one


def _order_tx():
    return sign(T.Order(1_000, T.Side.BID, 1_500, 120), KEY, 0, 7)


def test_trailing_bytes_refused():
    with pytest.raises(EncodingError, match="trailing|canonical"):
        decode_transaction(_order_tx().encoded[:-64] + b"\x00" + _order_tx().signature)


def test_truncated_refused():
    with pytest.raises(EncodingError):
        decode_transaction(_order_tx().encoded[:-1])


def test_unknown_type_and_version_refused():
    raw = bytearray(_order_tx().encoded)
    raw[1] = 99
    with pytest.raises(EncodingError, match="unknown transaction type"):
        decode_transaction(bytes(raw))
    for version in (TX_VERSION - 1, TX_VERSION + 1):  # an older testbed's, a newer one's
        raw = bytearray(_order_tx().encoded)
        raw[0] = version
        with pytest.raises(EncodingError, match=f"unknown transaction version {version}"):
            decode_transaction(bytes(raw))


def test_overlong_length_refused():
    body = T.Genesis(validators=(bytes(32),), contract_params=b"")
    raw = bytearray(sign(body, KEY, 0, 7).encoded)
    head = 1 + 1 + 4 + 32 + 8
    raw[head : head + 4] = struct.pack(">I", 2**31)
    with pytest.raises(EncodingError, match="exceeds the limit"):
        decode_transaction(bytes(raw))


def test_invalid_utf8_refused():
    body = T.Clearing(1, 2, (T.Trade(bytes(32), bytes(32), 1, 1, 1, T.Constraint(1, "ab", 0, 0)),))
    raw = sign(body, KEY, 0, 7).encoded
    bad = raw.replace(b"ab", b"\xff\xfe")
    with pytest.raises(EncodingError, match="UTF-8"):
        decode_transaction(bad)


def test_out_of_range_values_cannot_be_encoded():
    with pytest.raises(EncodingError):
        sign(T.Order(-1, 1, 1, 1), KEY, 0, 7)
    with pytest.raises(EncodingError):
        sign(T.Deposit(bytes(31), 5), KEY, 0, 7)
    with pytest.raises(EncodingError):
        sign(T.Order(1, True, 1, 1), KEY, 0, 7)


@settings(max_examples=50, deadline=None)
@given(items=st.lists(u32, max_size=255), limit=st.integers(255, 256))
def test_a_list_counts_in_a_byte_when_its_limit_allows(items, limit):
    """A list of at most 255 items (a sealed record's opening, its readers) counts in a u8,
    a longer one in a u32; both round-trip."""
    codec = enc.ListOf(enc.U32, limit)
    data = enc.encode(tuple(items), codec)
    width = 1 if limit < 256 else 4
    assert data[:width] == len(items).to_bytes(width, "big")
    assert len(data) == width + 4 * len(items)
    assert enc.decode_exact(data, codec) == tuple(items)


def test_a_short_list_longer_than_its_limit_refused():
    with pytest.raises(EncodingError, match="exceeds the limit 2"):
        enc.decode_exact(bytes([3]) + bytes(12), enc.ListOf(enc.U32, 2))
    with pytest.raises(EncodingError, match="exceeds the limit 1"):  # two openings
        enc.decode_exact(bytes([2]), enc.struct_codec(Sealed))
