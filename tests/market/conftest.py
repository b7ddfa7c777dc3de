"""A tiny market driven straight through the contract (no blocks): signed transactions, a block
context per call, and helpers for the usual steps, in a public market (plaintext orders and
readings) or a private one (sealed orders, revealed at gate closure; sealed readings)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import replace

import pytest

from testbed.agents.proposer import gated_clearing, settle
from testbed.ledger.chain import Chain, InvalidBlock
from testbed.ledger.keys import KeyPair, ViewKey
from testbed.ledger.sealing import Keyring, Sealed
from testbed.ledger.state import BlockContext, Rejected
from testbed.ledger.transactions import (
    Deposit,
    Genesis,
    MeterReading,
    Order,
    OrderCommitment,
    OrderReveal,
    RegisterParticipant,
    Reveal,
    Role,
    SetValidatorsViewKey,
    Transaction,
    sign,
)
from testbed.market import private, sealed
from testbed.market.contract import MarketContract
from testbed.market.params import MarketParams, Privacy, escrow

CHAIN_ID = 7
T = 1_751_356_800  # an interval start (multiple of 900)


def key(name: str) -> KeyPair:
    return KeyPair.development("market-test/" + name)


VALIDATOR = key("validator")  # also the operator: it signs genesis
VALIDATORS_VIEW = ViewKey.development("market-test/validators")


def view(name: str) -> ViewKey:
    return ViewKey.development("market-test/view/" + name)


class Market:
    """Participants by name, each with an account key, a meter key and a view key.
    Transactions go straight into the contract, or, given a ledger path, one block each
    through a `Chain`. ``private``: the market's privacy (``params`` give the rest)."""

    def __init__(self, names: list[str], params: MarketParams | None = None,
                 deposit: int = 1000, chain_path: str | None = None,
                 buses: list[int] | None = None, *, private: bool = False) -> None:
        self.params = replace(params or MarketParams(),
                              privacy=Privacy.PRIVATE if private else Privacy.PUBLIC)
        self.private = private
        self.nonces: dict[bytes, int] = defaultdict(int)
        self.accounts = {n: key("home/" + n) for n in names}
        self.meters = {n: key("meter/" + n) for n in names}
        self.views = {n: view(n) for n in names}
        self.reveals: dict[bytes, tuple[str, int, Reveal]] = {}  # sealed, not yet revealed
        self.chain: Chain | None = None
        contract = MarketContract(Keyring([VALIDATORS_VIEW]))
        if chain_path is None:
            self._contract = contract
            self.apply(VALIDATOR, Genesis((VALIDATOR.public,), self.params.encode()), 0)
        else:
            self.chain = Chain.create(chain_path, [VALIDATOR], contract=contract,
                                      chain_id=CHAIN_ID, contract_params=self.params.encode())
            self.nonces[VALIDATOR.public] = 1
        if private:
            self.apply(VALIDATOR, SetValidatorsViewKey(VALIDATORS_VIEW.public), 0)
        for bus, n in zip(buses or range(1, len(names) + 1), names):
            self.apply(VALIDATOR, self.registration(n, bus), 0)
            if deposit:
                self.apply(VALIDATOR, Deposit(self.accounts[n].public, deposit), 0)

    def registration(self, name: str, bus: int = 1) -> RegisterParticipant:
        return RegisterParticipant(self.accounts[name].public, bus, Role.PROSUMER,
                                   self.meters[name].public, self.views[name].public)

    @property
    def contract(self) -> MarketContract:
        return self._contract if self.chain is None else self.chain.state.contract

    @contract.setter
    def contract(self, value: MarketContract) -> None:
        self._contract = value

    def apply(self, signer: KeyPair, body: object, timestamp: int) -> Transaction:
        """Execute one transaction (one block on a chain); refused ones raise `Rejected`."""
        tx = sign(body, signer, self.nonces[signer.public], CHAIN_ID)
        if self.chain is None:
            ctx = BlockContext(CHAIN_ID, 1, timestamp, VALIDATOR.public,
                               frozenset({VALIDATOR.public}), VALIDATOR.public)
            self.contract.apply(tx, ctx)
        else:
            try:
                self.chain.produce([tx], timestamp, VALIDATOR)
            except InvalidBlock as exc:
                raise Rejected(exc.reason) from None
        self.nonces[signer.public] += 1
        return tx

    # --- the usual steps ---

    def order(self, name: str, side: int, energy_wh: int, price: int,
              interval: int = T, lock: int | None = None) -> bytes:
        """Place an order (private: commit to it, locking ``lock`` or just enough; `clear`
        reveals it); its id."""
        ts = interval - self.params.gate_closure_seconds - 60
        account = self.accounts[name]
        if not self.private:
            return self.apply(account, Order(interval, side, energy_wh, price), ts).txid
        salt = hashlib.sha256(b"salt/%s/%d" % (name.encode(), self.nonces[account.public])
                              ).digest()[:16]
        digest = sealed.commitment(CHAIN_ID, account.public, interval, side, energy_wh, price,
                                   salt)
        if lock is None:
            lock = max(escrow(self.params, side, energy_wh),
                       self.params.unrevealed_penalty_units, 1)
        txid = self.apply(account, OrderCommitment(interval, digest, lock), ts).txid
        self.reveals[txid] = (name, interval, Reveal(txid, side, energy_wh, price, salt))
        return txid

    def pending(self, interval: int = T) -> list[Reveal]:
        return [r for _, iv, r in self.reveals.values() if iv == interval]

    def reveal(self, interval: int = T) -> None:
        """Each home reveals its own sealed orders of ``interval`` at gate closure."""
        gate = interval - self.params.gate_closure_seconds
        for name in self.accounts:
            mine = [r for who, iv, r in self.reveals.values() if who == name and iv == interval]
            if mine:
                self.apply(self.accounts[name], OrderReveal(tuple(mine)), gate)
        for r in self.pending(interval):
            del self.reveals[r.order]

    def clear(self, interval: int = T, at: int | None = None):
        """Clear at gate closure (or ``at``), the sealed orders not yet revealed relayed in
        the clearing by the operator."""
        at = interval - self.params.gate_closure_seconds if at is None else at
        reveals = self.pending(interval)
        body = gated_clearing(self.contract, interval, reveals=reveals, timestamp=at)
        self.apply(VALIDATOR, body, at)
        for r in reveals:
            del self.reveals[r.order]
        return body

    def reading(self, name: str, imported: int, exported: int, interval: int = T):
        account = self.accounts[name].public
        if self.private:
            return private.seal_reading(self.contract, account, interval, imported, exported)
        return MeterReading(account, interval, imported, exported)

    def read(self, name: str, imported: int, exported: int, interval: int = T) -> None:
        self.apply(self.meters[name], self.reading(name, imported, exported, interval),
                   interval + self.params.interval_seconds)

    def settle(self, interval: int = T, late: bool = False):
        proposal = settle(self.contract, interval)
        end = interval + self.params.interval_seconds
        ts = end + self.params.reading_deadline_seconds if late else end
        self.apply(VALIDATOR, proposal.body, ts)
        return proposal

    def balance(self, name: str) -> int:
        return self.contract.participants[self.accounts[name].public].balance_units

    def escrow(self, name: str) -> int:
        return self.contract.escrow(self.accounts[name].public)


def with_broken_wrap(sealed: Sealed, reader: bytes) -> Sealed:
    """``sealed`` with its opening's wrap for ``reader`` spoiled: a sealer cheating that reader
    alone."""
    (opening,) = sealed.opening
    return replace(sealed, opening=(replace(opening, wraps=tuple(
        replace(w, sealed_key=bytes(len(w.sealed_key))) if w.reader == reader else w
        for w in opening.wraps)),))


@pytest.fixture
def market_of():
    return Market
