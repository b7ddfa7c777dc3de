"""Private records of a private market: meter readings and each home's settlement detail,
sealed (`ledger.sealing`, HPKE) to the home, the validators' view key and every auditor.

A load profile tells when a family is at home, asleep or away, so what a meter measured is on
the ledger only sealed: a `SealedReading` names whose reading and for which interval (the
deadline rules need that), and seals ``imported_wh | exported_wh``. The contract checks the
readers are exactly the home, the validators and the auditors registered (sorted), opens the
record with the validators' view key (every validator holds it, so every validator opens the
same record and re-executes everything) and applies the reading as a plaintext one. A record
that does not open for the validators is refused. One that the executor cannot read at all
(an auditor's key, not among an old record's readers; a verifier with a home's key) raises
`NotAddressed`: not a broken rule, something this executor cannot check.

The settlement's payments stay public (every balance depends on them); what each trading home
took or gave and what was delivered on each of its trades is its `HomeSettlement`, sealed to
the same readers and checked by the contract against its own.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from testbed.ledger import encoding as enc
from testbed.ledger.encoding import EncodingError, b32, list_of, u32, u64
from testbed.ledger.ids import PublicKey
from testbed.ledger.params import MAX_TRADES_PER_CLEARING
from testbed.ledger.sealing import BrokenSeal, Sealed, Sealer, context, open_sealed
from testbed.ledger.state import BlockContext, Rejected
from testbed.ledger.transactions import SealedDetail, SealedReading, Settlement, Transaction
from testbed.market.params import Privacy
from testbed.market.settlement import NO_READING, SettlementResult

if TYPE_CHECKING:
    from testbed.market.contract import MarketContract


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
    came) and the home's trades."""

    interval: int = u64()
    participant: PublicKey = b32()
    imported_wh: int = u64()
    exported_wh: int = u64()
    trades: tuple[TradeShare, ...] = list_of(TradeShare, MAX_TRADES_PER_CLEARING)


def reading_context(chain_id: int, participant: bytes, interval: int) -> bytes:
    return context(b"reading", struct.pack(">I", chain_id), participant,
                   struct.pack(">Q", interval))


def detail_context(chain_id: int, participant: bytes, interval: int) -> bytes:
    return context(b"settlement", struct.pack(">I", chain_id), participant,
                   struct.pack(">Q", interval))


def readers(contract: MarketContract, home: bytes) -> tuple[bytes, ...]:
    """Who reads ``home``'s sealed records: the home, the validators, every auditor (sorted)."""
    if not contract.validators_view_key:
        raise Rejected("no validators' view key on this chain (SetValidatorsViewKey first)")
    keys = {contract.participants[home].view_key, contract.validators_view_key,
            *(a.view_key for a in contract.auditors.values())}
    return tuple(sorted(keys))


def seal_reading(contract: MarketContract, participant: bytes, interval: int,
                 imported_wh: int, exported_wh: int, sealer: Sealer | None = None
                 ) -> SealedReading:
    """A meter's `SealedReading` body, sealed by its ``sealer`` (default: a new one)."""
    plain = enc.encode(ReadingPlain(imported_wh, exported_wh))
    return SealedReading(participant, interval, (sealer or Sealer()).seal(
        plain, readers(contract, participant),
        reading_context(contract.chain_id, participant, interval)))


def _open(contract: MarketContract, sealed: Sealed, info: bytes, what: str) -> bytes:
    """The plaintext, opened with the validators' view key when this executor holds it (the
    rule every validator applies alike), else with any key it holds."""
    try:
        return open_sealed(sealed, contract.view_keys, info, only=contract.validators_view_key)
    except BrokenSeal as exc:
        raise Rejected(f"{what} does not open: {exc}") from None


def reading(contract: MarketContract, tx: Transaction, body: SealedReading,
            ctx: BlockContext) -> None:
    contract._require_privacy(Privacy.PRIVATE, "a sealed meter reading")
    contract._reading_slot(tx, body.participant, body.interval, ctx)
    expected = readers(contract, body.participant)
    if body.reading.readers != expected:
        raise Rejected("a sealed reading must be sealed to its home, the validators and the "
                       "auditors, once each")
    plain = _open(contract, body.reading,
                  reading_context(ctx.chain_id, body.participant, body.interval),
                  "sealed reading")
    try:
        value = enc.decode_exact(plain, enc.struct_codec(ReadingPlain))
    except EncodingError as exc:
        raise Rejected(f"sealed reading holds no reading: {exc}") from None
    contract._store_reading(body.participant, body.interval, value.imported_wh,
                            value.exported_wh)


def home_settlements(contract: MarketContract, interval: int,
                     result: SettlementResult) -> dict[bytes, HomeSettlement]:
    """Each trading home's detail of ``interval``'s settlement, by account."""
    cleared = contract.cleared[interval]
    owners = {o.order_id: o.owner for o in contract.book(interval)}
    shares: dict[bytes, list[TradeShare]] = defaultdict(list)
    for k, t in enumerate(cleared.trades):
        shares[owners[t.bid]].append(TradeShare(k, result.took_wh[k], result.delivered_wh[k]))
        shares[owners[t.offer]].append(TradeShare(k, result.gave_wh[k], result.delivered_wh[k]))
    out = {}
    for home in sorted(shares):
        stored = contract.readings.get((interval, home))
        read = NO_READING if stored is None else stored
        out[home] = HomeSettlement(interval, home, read.imported_wh, read.exported_wh,
                                   tuple(shares[home]))
    return out


def seal_details(contract: MarketContract, interval: int, result: SettlementResult,
                 sealer: Sealer | None = None) -> tuple[SealedDetail, ...]:
    """The settlement's sealed details (none in a public market), sealed by the operator's
    ``sealer`` (default: a new one)."""
    if not contract.is_private:
        return ()
    sealer = sealer or Sealer()
    return tuple(
        SealedDetail(home, sealer.seal(enc.encode(detail), readers(contract, home),
                                       detail_context(contract.chain_id, home, interval)))
        for home, detail in home_settlements(contract, interval, result).items())


def check_details(contract: MarketContract, body: Settlement, result: SettlementResult) -> None:
    """`Rejected` unless ``body``'s sealed details are the contract's own, one per trading
    home, each sealed to its readers."""
    if not contract.is_private:
        if body.details:
            raise Rejected("settlement details in a public market")
        return
    expected = home_settlements(contract, body.interval, result)
    if tuple(d.participant for d in body.details) != tuple(expected):
        raise Rejected(f"settlement of interval {body.interval}: a sealed detail for each "
                       "trading home, in account order")
    for d in body.details:
        if d.detail.readers != readers(contract, d.participant):
            raise Rejected(f"settlement detail of {d.participant.hex()[:16]} is not sealed to "
                           "its home, the validators and the auditors")
        plain = _open(contract, d.detail,
                      detail_context(contract.chain_id, d.participant, body.interval),
                      "settlement detail")
        if plain != enc.encode(expected[d.participant]):
            raise Rejected(f"settlement detail of {d.participant.hex()[:16]} differs from "
                           "the contract's")
