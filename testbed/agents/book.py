"""What a home learns from the chain, fed block by block: the home's side of the ledger for
an external agent (`agents.external`), which holds no view key but its own.

A home cannot re-execute a private market's contract (the other homes' readings are sealed
to them, not to it), so it keeps what it can read: the market's parameters (genesis), its
balance as the public records show it (deposits, settlement payments to and from it, less
the escrow its orders locked until their interval settles), the clearing prices and volumes
(public), its own trades, and its meter's last reading (in a private market sealed to it:
opened with its view key). From these it builds the `Knowledge` a `Trader` decides from:
its forecast is its last reading (persistence: the home has no other view of its profile).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from testbed.agents.home import Forecast
from testbed.agents.trader import Knowledge, market_view
from testbed.ledger.blocks import Block
from testbed.ledger.ids import PublicKey
from testbed.ledger.keys import ViewKey
from testbed.ledger.sealing import Keyring
from testbed.ledger.transactions import (
    Clearing,
    Deposit,
    Genesis,
    MeterReading,
    Order,
    OrderCommitment,
    RegisterParticipant,
    SealedReading,
    Settlement,
)
from testbed.market.params import MarketParams, escrow, wh_to_kw
from testbed.market.private import RecordReader


@dataclass
class HomeBook:
    """One home's view of the chain (``account``: its public key)."""

    account: bytes
    view: ViewKey
    params: MarketParams = field(default_factory=MarketParams)
    nonce: int = 0  # the home's next nonce: its committed transactions so far
    received_units: int = 0  # deposits and payments to the home
    paid_units: int = 0  # payments by the home
    locked: dict[int, int] = field(default_factory=dict)  # interval -> escrow its orders lock
    orders: dict[bytes, int] = field(default_factory=dict)  # the home's order ids -> interval
    prices: list[int] = field(default_factory=list)  # clearing prices of traded intervals
    last_volume_wh: int | None = None
    last_reading: tuple[int, int] | None = None  # (imported, exported) Wh of its meter
    meter: bytes | None = None  # its meter's key, from its registration
    traded_wh: int = 0  # granted on the home's trades
    trades: int = 0
    head_time: int = 0  # the last block's time

    def __post_init__(self) -> None:
        self.reader = RecordReader(Keyring([self.view]))

    @property
    def balance_units(self) -> int:
        return self.received_units - self.paid_units - sum(self.locked.values())

    def feed(self, block: Block) -> None:
        """Learn what ``block`` tells the home."""
        self.head_time = block.header.timestamp
        for tx in block.transactions:
            body, mine = tx.body, tx.sender == self.account
            if mine:
                self.nonce = tx.nonce + 1
            match body:
                case Genesis():
                    self.params = MarketParams.decode(body.contract_params)
                case RegisterParticipant() if body.account == self.account:
                    self.meter = body.meter_key
                case Deposit() if body.account == self.account:
                    self.received_units += body.amount_units
                case OrderCommitment() if mine:
                    self._locks(tx.txid, body.interval, body.escrow_units)
                case Order() if mine:
                    self._locks(tx.txid, body.interval,
                                escrow(self.params, body.side, body.energy_wh))
                case Clearing():
                    self._cleared(body)
                case Settlement():
                    for p in body.payments:
                        self.received_units += p.amount_units if p.payee == self.account else 0
                        self.paid_units += p.amount_units if p.payer == self.account else 0
                    self.locked.pop(body.interval, None)
                case SealedReading() if tx.sender == self.meter:
                    plain = self.reader.reading(tx, PublicKey(self.account))
                    self.last_reading = (plain.imported_wh, plain.exported_wh)
                case MeterReading() if body.participant == self.account:
                    self.last_reading = (body.imported_wh, body.exported_wh)

    def _locks(self, order: bytes, interval: int, units: int) -> None:
        self.orders[order] = interval
        self.locked[interval] = self.locked.get(interval, 0) + units

    def _cleared(self, body: Clearing) -> None:
        if body.trades:
            self.prices.append(body.price_per_kwh)
            self.last_volume_wh = sum(t.granted_wh for t in body.trades)
        for t in body.trades:
            if t.bid in self.orders or t.offer in self.orders:
                self.traded_wh += t.granted_wh
                self.trades += 1

    def knowledge(self, interval: int) -> Knowledge:
        """What the home knows when it decides the interval starting at ``interval``."""
        imported, exported = self.last_reading or (0, 0)
        seconds = self.params.interval_seconds
        market = market_view(self.prices, self.last_volume_wh)
        return Knowledge(interval, self.params,
                         Forecast(wh_to_kw(imported, seconds), wh_to_kw(exported, seconds)),
                         max(self.balance_units, 0), None, 0, market)
