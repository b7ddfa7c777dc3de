"""The market contract's state and the rules its transaction handlers share.

`MarketState` holds the tables of the state root and the indexes derived from them, and the
checks and changes every handler uses (`contract` for orders, clearings and settlements,
`sealed` for commitments and reveals, `private` for sealed readings): each of those modules
imports this one, and `contract` imports them, so the contract's parts form no cycle and call
one another only through these public methods.

A handler checks before it changes anything; one that applies several steps, each of which
may be refused (a transaction of several reveals), runs them on a `copy` and `adopt`s it
whole, so a refused transaction leaves no trace.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Self

from testbed.ledger import encoding as enc
from testbed.ledger.encoding import b32, u8, u32, u64
from testbed.ledger.ids import PublicKey, TxId, ViewPublicKey
from testbed.ledger.params import MAX_TRADES_PER_CLEARING
from testbed.ledger.sealing import ChannelState, Keyring
from testbed.ledger.state import BlockContext, Rejected
from testbed.ledger.tables import HashedTable
from testbed.ledger.transactions import SetGridFees, Side, Trade, Transaction
from testbed.market.auction import OpenOrder
from testbed.market.params import MarketParams, Privacy

Place = tuple[bytes, PublicKey]
"""Where a channel of sealed records belongs: (kind, home) (`private`)."""


@dataclass(frozen=True)
class Participant:
    account: PublicKey = b32()
    bus: int = u32()
    role: int = u8()
    meter_key: PublicKey = b32()
    balance_units: int = u64()
    view_key: ViewPublicKey = b32()


@dataclass(frozen=True)
class Auditor:
    account: PublicKey = b32()
    view_key: ViewPublicKey = b32()


@dataclass(frozen=True)
class ClearedInterval:
    interval: int = u64()
    price_per_kwh: int = u64()
    trades: tuple[Trade, ...] = enc.list_of(Trade, MAX_TRADES_PER_CLEARING)
    fees_per_kwh: tuple[int, ...] = enc.list_of(enc.U64, MAX_TRADES_PER_CLEARING, True)
    # per trade: the grid fee in force for the interval at its clearing (`fees`)


@dataclass(frozen=True)
class StoredReading:
    interval: int = u64()
    participant: PublicKey = b32()
    imported_wh: int = u64()
    exported_wh: int = u64()


@dataclass(frozen=True)
class Commitment:
    """A sealed order not yet revealed (the contract's record of an `OrderCommitment`)."""

    order_id: TxId = b32()  # the commitment transaction's id: the order's id once revealed
    owner: PublicKey = b32()
    interval: int = u64()
    commitment: bytes = b32()
    seq: int = u64()  # arrival on the chain: the order's time priority
    locked_units: int = u64()


def short(key: bytes) -> str:
    """A key as the contract's messages name it."""
    return key.hex()[:16]


_TABLES = ("participants", "orders", "cleared", "readings", "auditors", "commitments",
           "channels", "tariffs", "meters", "sides")
"""The state's mutable containers: each copied by `copy`, taken over by `adopt`."""
_VALUES = ("chain_id", "params", "validators_view_key", "settled", "settled_digest", "seq",
           "money_in", "money_out")


class MarketState:
    """Balances, escrow, the order book, trades and meter data of the energy market.

    ``view_keys``: the view keys this executor holds, by public key (a validator: the
    validators'; an auditor: its own), to open sealed records; not part of the state."""

    def __init__(self, view_keys: Keyring | None = None) -> None:
        self.view_keys = view_keys if view_keys is not None else Keyring()
        self.chain_id = 0  # from genesis: sealed records are bound to it
        self.params: MarketParams | None = None
        # the tables of the state root (hashed as they change), then indexes derived from them
        self.participants: HashedTable[PublicKey, Participant] = HashedTable()
        self.orders: HashedTable[TxId, OpenOrder] = HashedTable()  # of unsettled intervals
        self.cleared: HashedTable[int, ClearedInterval] = HashedTable()  # not yet settled
        self.readings: HashedTable[tuple[int, PublicKey], StoredReading] = HashedTable()
        self.auditors: HashedTable[PublicKey, Auditor] = HashedTable()
        self.commitments: HashedTable[TxId, Commitment] = HashedTable()  # not revealed
        # each place's channel of sealed records (`private`): by (kind, home)
        self.channels: HashedTable[Place, ChannelState] = HashedTable()
        # the operator's grid fees, by the first interval each applies to (`fees`)
        self.tariffs: HashedTable[int, SetGridFees] = HashedTable()
        self.validators_view_key = ViewPublicKey(b"")  # set once by the operator (private markets)
        self.meters: dict[PublicKey, PublicKey] = {}  # meter key -> participant
        self.sides: dict[tuple[int, PublicKey], int] = {}  # (interval, participant) -> side
        self.settled: set[int] = set()
        self.settled_digest = bytes(32)  # chains the settled intervals in settlement order
        self.seq = 0  # orders accepted so far: arrival order for time priority
        self.money_in = 0
        self.money_out = 0

    # --- copies ------------------------------------------------------------------------------

    def copy(self) -> Self:
        """A copy to try changes on (the chain's, or a handler's trial): the original is
        untouched unless it `adopt`s the copy."""
        other = type(self).__new__(type(self))
        other.view_keys = self.view_keys
        for name in _VALUES:
            setattr(other, name, getattr(self, name))
        for name in _TABLES:
            setattr(other, name, getattr(self, name).copy())
        other.settled = set(self.settled)
        return other

    def adopt(self, trial: Self) -> None:
        """Take over the state of ``trial`` (a `copy` of this state, changed)."""
        for name in (*_VALUES, *_TABLES):
            setattr(self, name, getattr(trial, name))

    # --- queries -----------------------------------------------------------------------------

    @property
    def rules(self) -> MarketParams:
        """The market's parameters (after genesis)."""
        assert self.params is not None
        return self.params

    @property
    def is_private(self) -> bool:
        return self.rules.privacy == Privacy.PRIVATE

    def participant(self, account: PublicKey) -> Participant:
        """The registered participant ``account``, or `Rejected`."""
        p = self.participants.get(account)
        if p is None:
            raise Rejected(f"unknown participant {short(account)}")
        return p

    def book(self, interval: int) -> list[OpenOrder]:
        """Open orders of ``interval``, in arrival order."""
        return sorted((o for o in self.orders.values() if o.interval == interval),
                      key=lambda o: o.seq)

    def unrevealed(self, interval: int) -> list[Commitment]:
        """The commitments of ``interval`` not revealed, in arrival order."""
        return sorted((c for c in self.commitments.values() if c.interval == interval),
                      key=lambda c: c.seq)

    # --- checks ------------------------------------------------------------------------------

    def require_privacy(self, privacy: Privacy, what: str) -> None:
        """`Rejected` unless the market's privacy is ``privacy`` (``what`` needs it)."""
        if self.rules.privacy != privacy:
            raise Rejected(f"{what} in a {Privacy(self.rules.privacy).name.lower()} market: "
                           + ("orders are sealed and readings sealed (commit, reveal, seal)"
                              if self.is_private else "orders and readings are in plaintext"))

    def check_aligned(self, interval: int) -> None:
        if interval % self.rules.interval_seconds:
            raise Rejected(f"interval {interval} is not a multiple of "
                           f"{self.rules.interval_seconds} s")

    def check_energy(self, wh: int, what: str) -> None:
        if wh > self.rules.max_energy_wh:
            raise Rejected(f"{what} {wh} Wh exceeds the limit of {self.rules.max_energy_wh} Wh "
                           "per interval")

    def check_before_gate(self, interval: int, ctx: BlockContext, what: str) -> None:
        """`Rejected` unless an order (or a sealed one) for ``interval`` may be placed now."""
        prm = self.rules
        self.check_aligned(interval)
        gate = interval - prm.gate_closure_seconds
        if ctx.timestamp >= gate or interval in self.cleared or interval in self.settled:
            raise Rejected(f"{what} for interval {interval} after gate closure at {gate}")
        if interval - ctx.timestamp > prm.order_horizon_seconds:
            raise Rejected(f"{what} for interval {interval} beyond the "
                           f"{prm.order_horizon_seconds} s horizon")

    def check_order(self, owner: PublicKey, interval: int, side: int, energy_wh: int,
                    price_per_kwh: int) -> None:
        """`Rejected` unless the order is valid: the rules whenever one is placed or
        revealed."""
        prm = self.rules
        if side not in (Side.BID, Side.OFFER):
            raise Rejected(f"unknown order side {side}")
        if energy_wh <= 0:
            raise Rejected("an order needs positive energy")
        self.check_energy(energy_wh, "order of")
        if not prm.feed_in_price_per_kwh <= price_per_kwh <= prm.retail_price_per_kwh:
            raise Rejected(f"price {price_per_kwh} outside [feed-in "
                           f"{prm.feed_in_price_per_kwh}, retail {prm.retail_price_per_kwh}]")
        known = self.sides.get((interval, owner))
        if known is not None and known != side:
            raise Rejected("a participant cannot both buy and sell in one interval")

    def check_reading_slot(self, tx: Transaction, participant: PublicKey, interval: int,
                           ctx: BlockContext) -> None:
        """`Rejected` unless a reading of ``participant`` for ``interval`` may come from
        ``tx``'s sender now."""
        prm = self.rules
        p = self.participant(participant)
        if tx.sender != p.meter_key:
            home = self.meters[tx.sender]
            raise Rejected(f"meter {short(tx.sender)} is bound to home {short(home)}, not "
                           f"to {short(p.account)}")
        self.check_aligned(interval)
        end = interval + prm.interval_seconds
        if ctx.timestamp < end:
            raise Rejected(f"reading for interval {interval}, which ends at {end}")
        if ctx.timestamp >= end + prm.reading_deadline_seconds or interval in self.settled:
            raise Rejected(f"reading for interval {interval} after its deadline "
                           "(or settlement)")
        if (interval, p.account) in self.readings:
            raise Rejected(f"second reading of {short(p.account)} for interval {interval}")

    # --- changes (after the checks) ----------------------------------------------------------

    def credit(self, account: PublicKey, amount_units: int) -> None:
        """Add ``amount_units`` (negative: take) to ``account``'s balance."""
        p = self.participants[account]
        self.participants[account] = replace(p, balance_units=p.balance_units + amount_units)

    def place(self, order: OpenOrder) -> None:
        """Put a checked order, its escrow already taken from its owner, on the book."""
        self.orders[order.order_id] = order
        self.sides[(order.interval, order.owner)] = order.side

    def store_reading(self, participant: PublicKey, interval: int, imported_wh: int,
                      exported_wh: int) -> None:
        """Keep a reading whose slot was checked (`check_reading_slot`); `Rejected` for an
        absurd energy."""
        self.check_energy(imported_wh, "reading of")
        self.check_energy(exported_wh, "reading of")
        self.readings[(interval, participant)] = StoredReading(
            interval, participant, imported_wh, exported_wh)

    def relock(self, order: OpenOrder, locked: int, charged: int = 0) -> None:
        """Set the order's escrow to ``locked`` after ``charged`` was paid out of it; the rest
        goes back to the owner's balance."""
        released = order.locked_units - charged - locked
        assert released >= 0, "escrow bound broken"  # guaranteed by the settlement rules
        self.credit(order.owner, released)
        self.orders[order.order_id] = replace(order, locked_units=locked)
