"""A tiny market driven straight through the contract (no blocks): signed transactions, a block
context per call, and helpers for the usual steps."""

from __future__ import annotations

from collections import defaultdict

import pytest

from testbed.ledger.chain import Chain, InvalidBlock
from testbed.ledger.keys import KeyPair
from testbed.ledger.state import BlockContext, Rejected
from testbed.ledger.transactions import (
    Deposit,
    Genesis,
    MeterReading,
    Order,
    RegisterParticipant,
    Role,
    Transaction,
    sign,
)
from testbed.market.contract import MarketContract
from testbed.market.params import MarketParams
from testbed.market.proposer import gated_clearing, settle

CHAIN_ID = 7
T = 1_751_356_800  # an interval start (multiple of 900)


def key(name: str) -> KeyPair:
    return KeyPair.development("market-test/" + name)


VALIDATOR = key("validator")


class Market:
    """Participants by name, each with an account key and a meter key. Transactions go
    straight into the contract, or, given a ledger path, one block each through a `Chain`."""

    def __init__(self, names: list[str], params: MarketParams | None = None,
                 deposit: int = 1000, chain_path: str | None = None,
                 buses: list[int] | None = None) -> None:
        self.params = params or MarketParams()
        self.nonces: dict[bytes, int] = defaultdict(int)
        self.accounts = {n: key("home/" + n) for n in names}
        self.meters = {n: key("meter/" + n) for n in names}
        self.chain: Chain | None = None
        if chain_path is None:
            self._contract = MarketContract()
            self.apply(VALIDATOR, Genesis((VALIDATOR.public,), self.params.encode()), 0)
        else:
            self.chain = Chain.create(chain_path, [VALIDATOR], contract=MarketContract(),
                                      chain_id=CHAIN_ID, contract_params=self.params.encode())
            self.nonces[VALIDATOR.public] = 1
        for bus, n in zip(buses or range(1, len(names) + 1), names):
            body = RegisterParticipant(bus, Role.PROSUMER, self.meters[n].public)
            self.apply(self.accounts[n], body, 0)
            if deposit:
                self.apply(VALIDATOR, Deposit(self.accounts[n].public, deposit), 0)

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
              interval: int = T) -> bytes:
        ts = interval - self.params.gate_closure_seconds - 60
        return self.apply(self.accounts[name], Order(interval, side, energy_wh, price), ts).txid

    def clear(self, interval: int = T):
        body = gated_clearing(self.contract, interval)
        self.apply(VALIDATOR, body, interval - self.params.gate_closure_seconds)
        return body

    def read(self, name: str, imported: int, exported: int, interval: int = T) -> None:
        body = MeterReading(self.accounts[name].public, interval, imported, exported)
        self.apply(self.meters[name], body, interval + self.params.interval_seconds)

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


@pytest.fixture
def market_of():
    return Market
