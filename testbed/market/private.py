"""Private records of a private market: meter readings and each home's settlement detail,
sealed (`ledger.sealing`, HPKE) to the home, the validators' view key and every auditor.

A load profile tells when a family is at home, asleep or away, so what a meter measured is on
the ledger only sealed: a `SealedReading` names the interval (the deadline rules need it; the
home is the one its signing meter is bound to), and seals ``imported_wh | exported_wh``. The contract checks the
readers are exactly the home, the validators and the auditors registered (sorted), opens the
record with the validators' view key (every validator holds it, so every validator opens the
same record and re-executes everything) and applies the reading as a plaintext one. A record
that does not open for the validators is refused. One that the executor cannot read at all
(an auditor's key, not among an old record's readers; a verifier with a home's key) raises
`NotAddressed`: not a broken rule, something this executor cannot check.

The settlement's payments stay public (every balance depends on them); what each trading home
took or gave and what was delivered on each of its trades is its `HomeSettlement`, sealed to
the same readers and checked by the contract against its own. The details are in the account
order of the trading homes (the owners of the clearing's orders, public), which says whose
each is.

Each home's readings are sealed on one channel (its meter's), and its settlement details on
another (the operator's): the contract keeps each channel's state (`ChannelState`: readers,
key commitment, last sequence number) by kind and home, so a record continues the channel its
place last used; a record that carries an opening starts a new one there (a sealer that
restarted, readers that changed, a record sealed again). A record's sequence number is its
interval (the reading's, the settlement's), so it is not carried; the contract keeps one record
of a kind per home and interval, in growing intervals, so no nonce repeats among the records
the ledger accepts.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from testbed.ledger import encoding as enc
from testbed.ledger.encoding import EncodingError, list_of, u32, u64
from testbed.ledger.ids import PublicKey, ViewPublicKey
from testbed.ledger.params import MAX_TRADES_PER_CLEARING
from testbed.ledger.sealing import (
    BrokenSeal,
    ChannelState,
    Keyring,
    NotAddressed,
    Sealed,
    Sealer,
    advanced,
    context,
    next_seq,
    open_sealed,
    readers_of,
)
from testbed.ledger.state import BlockContext, Rejected
from testbed.ledger.transactions import SealedReading, Settlement, Trade, Transaction
from testbed.market.params import Privacy
from testbed.market.settlement import NO_READING, SettlementResult
from testbed.market.state import MarketState, Place

READING, DETAIL = b"reading", b"settlement"  # the kinds of sealed record: each its channels


@dataclass(frozen=True)
class ReadingPlain:
    """What a sealed reading holds."""

    imported_wh: int = u64()
    exported_wh: int = u64()


@dataclass(frozen=True)
class TradeShare:
    """One of a home's trades: its index in the clearing, the home's share of its metered
    energy on it (bought: imported; sold: exported) and the energy delivered."""

    trade: int = u32()
    share_wh: int = u64()
    delivered_wh: int = u64()


@dataclass(frozen=True)
class HomeSettlement:
    """What a sealed settlement detail holds: the reading the settlement used (zero when none
    came) and the home's trades. Whose and which interval's it is, the record's context
    says (and binds)."""

    imported_wh: int = u64()
    exported_wh: int = u64()
    trades: tuple[TradeShare, ...] = list_of(TradeShare, MAX_TRADES_PER_CLEARING)


def reading_context(chain_id: int, participant: PublicKey, interval: int) -> bytes:
    return context(READING, struct.pack(">I", chain_id), participant,
                   struct.pack(">Q", interval))


def detail_context(chain_id: int, participant: PublicKey, interval: int) -> bytes:
    return context(DETAIL, struct.pack(">I", chain_id), participant,
                   struct.pack(">Q", interval))


def channel_context(chain_id: int, place: Place) -> bytes:
    """What the channel of ``place`` is bound to: its wraps open for no other."""
    kind, participant = place
    return context(b"channel|" + kind, struct.pack(">I", chain_id), participant)


def readers(contract: MarketState, home: PublicKey) -> tuple[ViewPublicKey, ...]:
    """Who reads ``home``'s sealed records: the home, the validators, every auditor (sorted)."""
    if not contract.validators_view_key:
        raise Rejected("no validators' view key on this chain (SetValidatorsViewKey first)")
    keys = {contract.participants[home].view_key, contract.validators_view_key,
            *(a.view_key for a in contract.auditors.values())}
    return tuple(sorted(keys))


def seal_reading(contract: MarketState, participant: PublicKey, interval: int,
                 imported_wh: int, exported_wh: int, sealer: Sealer | None = None
                 ) -> SealedReading:
    """A meter's `SealedReading` body, sealed by its ``sealer`` (default: a new one)."""
    plain = enc.encode(ReadingPlain(imported_wh, exported_wh))
    return SealedReading(interval, _seal(
        contract, sealer, (READING, participant), plain,
        reading_context(contract.chain_id, participant, interval), interval))


def _seal(contract: MarketState, sealer: Sealer | None, place: Place, plain: bytes,
          info: bytes, seq: int) -> Sealed:
    return (sealer or Sealer()).seal(plain, readers(contract, place[1]), info,
                                     channel_context(contract.chain_id, place), seq,
                                     contract.channels.get(place))


def open_record(keys: Keyring, channels: Mapping[Place, ChannelState], chain_id: int,
                place: Place, sealed: Sealed, seq: int, info: bytes, what: str,
                only: bytes | None = None) -> tuple[bytes, ChannelState]:
    """The plaintext of record ``seq`` at ``place`` and its channel's state after it, given
    the channels' states before it; `Rejected` for a sequence number that does not grow or a
    record that does not open."""
    known = channels.get(place)
    if seq < next_seq(known):
        raise Rejected(f"{what} uses sequence number {seq} on its channel, which is at "
                       f"{next_seq(known)}")
    try:
        plain = open_sealed(sealed, keys, info, channel_context(chain_id, place), seq, known,
                            only)
    except BrokenSeal as exc:
        raise Rejected(f"{what} does not open: {exc}") from None
    return plain, advanced(sealed, seq, known)


def _open(contract: MarketState, place: Place, sealed: Sealed, seq: int, info: bytes,
          what: str) -> tuple[bytes, ChannelState]:
    """`open_record` for the contract, after checking the record is sealed to its readers:
    opened with the validators' view key when this executor holds it (the rule every
    validator applies alike), else with any key it holds."""
    known = contract.channels.get(place)
    if not sealed.opening and known is None:
        raise Rejected(f"{what} of {place[1].hex()[:16]} is a record on a channel never opened")
    if readers_of(sealed, known) != readers(contract, place[1]):
        raise Rejected(f"{what} of {place[1].hex()[:16]} must be sealed to its home, the "
                       "validators and the auditors, once each")
    return open_record(contract.view_keys, contract.channels, contract.chain_id, place,
                       sealed, seq, info, what, contract.validators_view_key)


def reading(contract: MarketState, tx: Transaction, body: SealedReading,
            ctx: BlockContext) -> None:
    contract.require_privacy(Privacy.PRIVATE, "a sealed meter reading")
    home = contract.meters.get(tx.sender)
    if home is None:
        raise Rejected(f"{tx.sender.hex()[:16]} is no home's meter")
    contract.check_reading_slot(tx, home, body.interval, ctx)
    place = (READING, home)
    plain, channel = _open(contract, place, body.reading, body.interval,
                           reading_context(ctx.chain_id, home, body.interval),
                           "sealed reading")
    try:
        value = enc.decode_exact(plain, enc.struct_codec(ReadingPlain))
    except EncodingError as exc:
        raise Rejected(f"sealed reading holds no reading: {exc}") from None
    contract.store_reading(home, body.interval, value.imported_wh, value.exported_wh)
    contract.channels[place] = channel


def home_settlements(contract: MarketState, interval: int,
                     result: SettlementResult) -> dict[PublicKey, HomeSettlement]:
    """Each trading home's detail of ``interval``'s settlement, by account."""
    cleared = contract.cleared[interval]
    owners = {o.order_id: o.owner for o in contract.book(interval)}
    shares: dict[PublicKey, list[TradeShare]] = defaultdict(list)
    for k, t in enumerate(cleared.trades):
        shares[owners[t.bid]].append(TradeShare(k, result.took_wh[k], result.delivered_wh[k]))
        shares[owners[t.offer]].append(TradeShare(k, result.gave_wh[k], result.delivered_wh[k]))
    out = {}
    for home in sorted(shares):
        stored = contract.readings.get((interval, home))
        read = NO_READING if stored is None else stored
        out[home] = HomeSettlement(read.imported_wh, read.exported_wh, tuple(shares[home]))
    return out


def seal_details(contract: MarketState, interval: int, result: SettlementResult,
                 sealer: Sealer | None = None) -> tuple[Sealed, ...]:
    """The settlement's sealed details (none in a public market), one per trading home in
    account order, sealed by the operator's ``sealer`` (default: a new one)."""
    if not contract.is_private:
        return ()
    sealer = sealer or Sealer()
    return tuple(
        _seal(contract, sealer, (DETAIL, home), enc.encode(detail),
              detail_context(contract.chain_id, home, interval), interval)
        for home, detail in home_settlements(contract, interval, result).items())


def trading_homes(trades: Iterable[Trade], owners: Mapping[bytes, PublicKey]
                  ) -> tuple[PublicKey, ...]:
    """Whose the sealed details of a settlement are, in order: the owners (``owners``: by
    order id) of the orders of its clearing's ``trades``, in account order."""
    return tuple(sorted({owners[o] for t in trades for o in (t.bid, t.offer)}))


def check_details(contract: MarketState, body: Settlement, result: SettlementResult
                  ) -> dict[Place, ChannelState]:
    """The detail channels' states after ``body``; `Rejected` unless its sealed details are
    the contract's own, one per trading home, each sealed to its readers."""
    if not contract.is_private:
        if body.details:
            raise Rejected("settlement details in a public market")
        return {}
    expected = home_settlements(contract, body.interval, result)
    if len(body.details) != len(expected):
        raise Rejected(f"settlement of interval {body.interval}: {len(body.details)} sealed "
                       f"details, one for each of its {len(expected)} trading homes")
    channels = {}
    for home, d in zip(expected, body.details):  # in account order
        place = (DETAIL, home)
        plain, channels[place] = _open(
            contract, place, d, body.interval,
            detail_context(contract.chain_id, home, body.interval), "settlement detail")
        if plain != enc.encode(expected[home]):
            raise Rejected(f"settlement detail of {home.hex()[:16]} differs from "
                           "the contract's")
    return channels


class RecordReader:
    """A reader of a private ledger's sealed records outside the contract (a home's app, an
    auditor's tool): fed the ledger's transactions in order, it follows each place's channel
    as the contract does and opens what the view keys at hand read."""

    def __init__(self, keys: Keyring) -> None:
        self.keys = keys
        self.channels: dict[Place, ChannelState] = {}

    def reading(self, tx: Transaction, home: PublicKey) -> ReadingPlain:
        """What a `SealedReading` transaction's meter, bound to ``home``, read."""
        body = tx.body
        plain = self._open(tx.chain_id, (READING, home), body.reading, body.interval,
                           reading_context(tx.chain_id, home, body.interval))
        return enc.decode_exact(plain, enc.struct_codec(ReadingPlain))

    def details(self, tx: Transaction, homes: Sequence[PublicKey]
                ) -> dict[PublicKey, HomeSettlement]:
        """The details of a `Settlement` transaction that the keys at hand read, by home;
        ``homes``: its trading homes (`trading_homes`), whose the details are, in order."""
        if len(homes) != len(tx.body.details):
            raise BrokenSeal(f"{len(tx.body.details)} settlement details for "
                             f"{len(homes)} trading homes")
        out = {}
        for home, d in zip(homes, tx.body.details):
            info = detail_context(tx.chain_id, home, tx.body.interval)
            try:
                plain = self._open(tx.chain_id, (DETAIL, home), d, tx.body.interval, info)
            except NotAddressed:
                continue
            out[home] = enc.decode_exact(plain, enc.struct_codec(HomeSettlement))
        return out

    def _open(self, chain_id: int, place: Place, sealed: Sealed, seq: int, info: bytes
              ) -> bytes:
        try:
            plain, self.channels[place] = open_record(self.keys, self.channels, chain_id, place,
                                                      sealed, seq, info, "sealed record")
        except NotAddressed:  # not ours to read, but on the ledger: its channel moved on
            self.channels[place] = advanced(sealed, seq, self.channels.get(place))
            raise
        return plain
