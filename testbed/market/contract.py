"""The market contract: the state machine every validator runs on every transaction.

Life of a delivery interval ``[t, t + interval_seconds)``:

1. Orders (from registered homes) until gate closure ``t - gate_closure_seconds``.
   A bid locks ``cost(energy, retail)`` in escrow: its worst case at settlement (everything
   bought from the grid at retail). An offer locks ``cost(energy, penalty)``: its worst-case
   shortfall penalty. A participant is buyer or seller in an interval, not both. Prices must
   lie within [feed-in, retail]: anyone can trade with the utility at those. In a private
   market (`MarketParams.privacy`) orders are sealed: committed before gate closure and
   revealed after it (`sealed`), and the rules above apply at the reveal.
2. Clearing (the operator, at or after gate closure; in a private market once every sealed
   order is revealed or the reveal window has closed): the trades must equal `auction.match`
   on the book exactly; the grid's decision per trade (granted energy, binding constraint) is
   accepted if 0 <= granted <= energy with a constraint exactly when granted < energy.
   Escrow drops to what the granted energy can still cost; the rest returns to balances.
3. Meter readings (signed by the participant's registered meter key) after the interval's end
   and before the reading deadline, one per participant and interval; in a private market
   sealed to the home, the validators and the auditors (`private`).
4. Settlement (the operator, after the end, once every trading participant's reading is in or
   the deadline has passed): the payments must equal `settlement.settle_trades` exactly (and
   the forfeits of sealed orders never revealed); in a private market each trading home's
   detail comes sealed and must open to the contract's own. Charges come out of escrow, the
   rest of escrow returns, and the interval is closed.

Who may send what is `roles` (checked first): the operator registers homes (each with the
meter it installed), the validators' view key and auditors; homes trade; meters read;
auditors and validators sign nothing.

Deposits (money entering the market), clearings (the grid's decisions) and settlements come
from the chain's operator (`ChainState`: the utility that signed genesis and runs the feeder
model), never from any validator: on a network, a lying validator can neither mint money nor
curtail trades; it can only refuse to vote.

Every check happens before any change, so a `Rejected` transaction leaves no trace.
Money accounting: ``sum(balances) + sum(escrow) == money_in - money_out`` where money_in is
deposits and feed-in payments and money_out retail, penalty and forfeit payments (the
utility's flows); escrow includes what sealed orders lock.
"""

from __future__ import annotations

import hashlib
import struct
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import ClassVar

from testbed.ledger import encoding as enc
from testbed.ledger.ids import PublicKey, Root
from testbed.ledger.state import BlockContext, Rejected
from testbed.ledger.transactions import (
    Clearing,
    Deposit,
    Genesis,
    MeterReading,
    Order,
    OrderCommitment,
    OrderReveal,
    RegisterAuditor,
    RegisterParticipant,
    Role,
    SealedReading,
    SetGridFees,
    Settlement,
    SetValidatorsViewKey,
    Side,
    Trade,
    Transaction,
)
from testbed.market import fees, private, roles, sealed
from testbed.market.auction import Matching, OpenOrder, match
from testbed.market.params import (
    MAX_MONEY,
    NO_CONSTRAINT,
    UTILITY,
    MarketParams,
    PaymentKind,
    Privacy,
    cost,
    escrow,
)
from testbed.market.settlement import Reading, SettlementResult, settle_trades
from testbed.market.state import (
    Auditor,
    ClearedInterval,
    Commitment,
    MarketState,
    Participant,
    short,
)


class MarketContract(MarketState):
    """The market's state (`MarketState`) and its transaction handlers."""

    # --- the Contract protocol ---------------------------------------------------------------

    def apply(self, tx: Transaction, ctx: BlockContext) -> None:
        body = tx.body
        if isinstance(body, Genesis):
            if self.params is not None:
                raise Rejected("the market is already initialised")
            self.params = MarketParams.decode(body.contract_params)
            self.chain_id = ctx.chain_id
            return
        if self.params is None:
            raise Rejected("the market has no genesis")
        handler = self._HANDLERS.get(type(body))
        if handler is None:
            raise Rejected(f"{type(body).__name__} is not a market transaction")
        roles.check_sender(self, tx, ctx)
        handler(self, tx, body, ctx)

    def state_root(self) -> Root:
        """SHA-256 over the parameters, the counters, the settled intervals' digest and each
        table's digest (`HashedTable`: only what changed since the last root is rehashed)."""
        h = hashlib.sha256(b"market/v4")
        h.update(enc.encode(self.params) if self.params else b"")
        h.update(struct.pack(">QQQ", self.seq, self.money_in, self.money_out))
        h.update(self.settled_digest)
        h.update(self.validators_view_key)
        for table in (self.participants, self.orders, self.cleared, self.readings,
                      self.auditors, self.commitments, self.channels, self.tariffs):
            h.update(table.digest())
        return Root(h.digest())

    # --- queries (for the proposer, the loop and tests) --------------------------------------

    def matching(self, interval: int) -> Matching:
        return match(self.book(interval), self.rules.mechanism)

    def settlement(self, interval: int) -> SettlementResult:
        """Delivered energy and payments of a cleared interval, from the readings so far."""
        cleared = self.cleared.get(interval)
        if cleared is None:
            raise Rejected(f"interval {interval} is not cleared (or already settled)")
        owners = {o.order_id: o.owner for o in self.book(interval)}
        readings = {
            r.participant: Reading(r.imported_wh, r.exported_wh)
            for r in self.readings.values() if r.interval == interval
        }
        result = settle_trades(cleared.trades, owners, readings, self.rules,
                               cleared.fees_per_kwh)
        return replace(result, payments=result.payments + sealed.forfeits(self, interval))

    def _escrowed(self) -> Iterator[OpenOrder | Commitment]:
        """What holds escrow: open orders and commitments not yet revealed."""
        yield from self.orders.values()
        yield from self.commitments.values()

    def escrow(self, account: PublicKey) -> int:
        return sum(o.locked_units for o in self._escrowed() if o.owner == account)

    def money_held(self) -> int:
        """All balances plus all escrow: must equal ``money_in - money_out``."""
        return sum(p.balance_units for p in self.participants.values()) + sum(
            o.locked_units for o in self._escrowed()
        )

    # --- handlers ----------------------------------------------------------------------------

    def _register(self, tx: Transaction, body: RegisterParticipant, ctx: BlockContext) -> None:
        if body.account in self.participants:
            raise Rejected(f"participant {short(body.account)} is already registered")
        roles.check_new_key(self, ctx, body.account, "account")
        if body.role not in set(Role):
            raise Rejected(f"unknown role {body.role}")
        if body.meter_key in (UTILITY, body.account):
            raise Rejected(f"meter key {short(body.meter_key)} is taken or invalid")
        roles.check_new_key(self, ctx, body.meter_key, "meter key")
        if body.view_key == bytes(32):
            raise Rejected("a home needs a view key")
        self.participants[body.account] = Participant(
            body.account, body.bus, body.role, body.meter_key, 0, body.view_key
        )
        self.meters[body.meter_key] = body.account

    def _auditor(self, tx: Transaction, body: RegisterAuditor, ctx: BlockContext) -> None:
        roles.check_new_key(self, ctx, body.account, "auditor account")
        if body.view_key == bytes(32):
            raise Rejected("an auditor needs a view key")
        self.auditors[body.account] = Auditor(body.account, body.view_key)

    def _validators_view_key(self, tx: Transaction, body: SetValidatorsViewKey,
                             ctx: BlockContext) -> None:
        if self.validators_view_key:
            raise Rejected("the validators' view key is set for the chain's life")
        if body.view_key == bytes(32):
            raise Rejected("the validators' view key cannot be zero")
        self.validators_view_key = body.view_key

    def _deposit(self, tx: Transaction, body: Deposit, ctx: BlockContext) -> None:
        p = self.participant(body.account)
        if body.amount_units <= 0:
            raise Rejected("a deposit must be positive")
        if p.balance_units + body.amount_units > MAX_MONEY:
            raise Rejected(f"deposit would take the balance above {MAX_MONEY}")
        self.credit(p.account, body.amount_units)
        self.money_in += body.amount_units

    def _order(self, tx: Transaction, body: Order, ctx: BlockContext) -> None:
        self.require_privacy(Privacy.PUBLIC, "a plaintext order")
        p = self.participant(tx.sender)
        self.check_before_gate(body.interval, ctx, "order")
        self.check_order(tx.sender, body.interval, body.side, body.energy_wh,
                         body.price_per_kwh)
        locked = escrow(self.rules, body.side, body.energy_wh)
        if locked > p.balance_units:
            raise Rejected(f"escrow of {locked} exceeds the balance of {p.balance_units}")
        self.credit(p.account, -locked)
        self.place(OpenOrder(tx.txid, tx.sender, body.interval, body.side, body.energy_wh,
                             body.price_per_kwh, self.seq, locked))
        self.seq += 1

    def _clearing(self, tx: Transaction, body: Clearing, ctx: BlockContext) -> None:
        if not body.reveals:
            _clear(self, body, ctx)
            return
        # relayed by the operator: revealed first, then cleared; all of it or none
        self.require_privacy(Privacy.PRIVATE, "a reveal")
        reveals = sealed.relayed(self, body.interval, body.reveals)
        trial = sealed.with_reveals(self, reveals, ctx.timestamp, body.interval)
        _clear(trial, body, ctx)
        self.adopt(trial)

    def _reading(self, tx: Transaction, body: MeterReading, ctx: BlockContext) -> None:
        self.require_privacy(Privacy.PUBLIC, "a plaintext meter reading")
        self.check_reading_slot(tx, body.participant, body.interval, ctx)
        self.store_reading(body.participant, body.interval, body.imported_wh, body.exported_wh)

    def _settlement(self, tx: Transaction, body: Settlement, ctx: BlockContext) -> None:
        prm = self.rules
        cleared = self.cleared.get(body.interval)
        if cleared is None:
            raise Rejected(f"interval {body.interval} is not cleared (or already settled)")
        end = body.interval + prm.interval_seconds
        if ctx.timestamp < end:
            raise Rejected(f"settlement of interval {body.interval} before its end at {end}")
        book = self.book(body.interval)
        if ctx.timestamp < end + prm.reading_deadline_seconds:
            owners = {o.order_id: o.owner for o in book}
            traders = {owners[t.bid] for t in cleared.trades} | {
                owners[t.offer] for t in cleared.trades}
            missing = [a for a in sorted(traders) if (body.interval, a) not in self.readings]
            if missing:
                raise Rejected(f"settlement before the reading deadline with {len(missing)} "
                               "readings missing")
        result = self.settlement(body.interval)
        if body.payments != result.payments:
            raise Rejected(f"payments of interval {body.interval} differ from the contract's")
        channels = private.check_details(self, body, result)
        for order in book:
            self.relock(order, 0, charged=result.charged.get(order.order_id, 0))
            del self.orders[order.order_id]
            self.sides.pop((order.interval, order.owner), None)
        sealed.settle_forfeits(self, body.interval)
        for payment in result.payments:
            if payment.payee == UTILITY:
                self.money_out += payment.amount_units
            else:
                if payment.kind == PaymentKind.FEED_IN:
                    self.money_in += payment.amount_units
                self.credit(payment.payee, payment.amount_units)
        for key in [k for k in self.readings if k[0] == body.interval]:
            del self.readings[key]
        for place, channel in channels.items():
            self.channels[place] = channel
        del self.cleared[body.interval]
        self.settled.add(body.interval)
        self.settled_digest = hashlib.sha256(
            self.settled_digest + struct.pack(">Q", body.interval)).digest()

    _HANDLERS: ClassVar[dict[type, Callable[..., None]]] = {
        RegisterParticipant: _register,
        RegisterAuditor: _auditor,
        SetValidatorsViewKey: _validators_view_key,
        Deposit: _deposit,
        Order: _order,
        OrderCommitment: sealed.commit,
        OrderReveal: sealed.reveal,
        Clearing: _clearing,
        MeterReading: _reading,
        SealedReading: private.reading,
        Settlement: _settlement,
        SetGridFees: fees.set_fees,
    }


def _clear(contract: MarketContract, body: Clearing, ctx: BlockContext) -> None:
    """The clearing ``body`` of a book whose sealed orders are revealed (or forfeit)."""
    prm = contract.rules
    contract.check_aligned(body.interval)
    if body.interval in contract.cleared or body.interval in contract.settled:
        raise Rejected(f"interval {body.interval} is already cleared")
    gate = body.interval - prm.gate_closure_seconds
    if ctx.timestamp < gate:
        raise Rejected(f"clearing of interval {body.interval} before gate closure at {gate}")
    sealed.check_reveals_over(contract, body.interval, ctx)
    expected = contract.matching(body.interval)
    if body.price_per_kwh != expected.price_per_kwh:
        raise Rejected(f"clearing price {body.price_per_kwh}, the book clears at "
                       f"{expected.price_per_kwh}")
    if len(body.trades) != len(expected.matches):
        raise Rejected(f"{len(body.trades)} trades, the book gives {len(expected.matches)}")
    granted: dict[bytes, int] = defaultdict(int)
    for k, (t, m) in enumerate(zip(body.trades, expected.matches)):
        if ((t.bid, t.offer, t.energy_wh, t.price_per_kwh)
                != (m.bid, m.offer, m.energy_wh, m.price_per_kwh)):
            raise Rejected(f"trade {k} differs from the book's matching")
        _check_grid_decision(k, t)
        granted[t.bid] += t.granted_wh
        granted[t.offer] += t.granted_wh
    book = contract.book(body.interval)
    for order in book:
        rate = (prm.retail_price_per_kwh if order.side == Side.BID
                else prm.shortfall_penalty_per_kwh)
        contract.relock(order, cost(granted[order.order_id], rate))
    sealed.forfeit_unrevealed(contract, body.interval)
    bus = {o.order_id: contract.participants[o.owner].bus for o in book}
    trade_fees = tuple(fees.fee_per_kwh(contract, body.interval, bus[t.offer], bus[t.bid])
                       for t in body.trades)
    contract.cleared[body.interval] = ClearedInterval(body.interval, body.price_per_kwh,
                                                      body.trades, trade_fees)


def _check_grid_decision(k: int, trade: Trade) -> None:
    if trade.granted_wh > trade.energy_wh:
        raise Rejected(f"trade {k}: granted {trade.granted_wh} Wh above its {trade.energy_wh} Wh")
    curtailed = trade.granted_wh < trade.energy_wh
    if curtailed and trade.constraint.kind == 0:
        raise Rejected(f"trade {k}: curtailed without a binding constraint")
    if not curtailed and trade.constraint != NO_CONSTRAINT:
        raise Rejected(f"trade {k}: a binding constraint on a trade granted in full")
