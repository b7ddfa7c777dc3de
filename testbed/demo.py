"""Development chains: `testbed ledger init`, `testbed ledger demo` and the ledger bench.

Demo chains hold what the market contract accepts (registrations, deposits, orders for future
intervals within the tariffs) in a public market (plaintext orders: a demo of signed-order
throughput), so they verify with or without the contract replayed.

Development keys are derived from public seeds (so demos are reproducible) and written
encrypted under the development passphrase unless TESTBED_PASSPHRASE is set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from testbed.errors import InputError
from testbed.events import EventStream
from testbed.interval.block import EmbeddedLedger
from testbed.interval.join import join
from testbed.ledger.chain import Chain
from testbed.ledger.keys import KeyPair, ViewKey, passphrase
from testbed.ledger.params import DEFAULT_CHAIN_ID
from testbed.ledger.state import Contract
from testbed.ledger.transactions import (
    Order,
    RegisterParticipant,
    Role,
    Side,
    Transaction,
    sign,
)
from testbed.market.params import MarketParams, Privacy

DEMO_START = 1_751_356_800  # 2025-07-01T08:00:00Z, a summer morning
INTERVAL_S = 900
DEMO_DEPOSIT = 10**12  # enough escrow for any demo: orders are never cleared in a demo
DEMO_PARAMS = MarketParams(privacy=Privacy.PUBLIC).encode()


def init_chain(path: Path, validator_keys: Sequence[Path], chain_id: int | None,
               contract: Contract | None = None) -> str:
    """Create a chain; validators from key files, or one fresh development validator whose
    key file is written beside the ledger."""
    if validator_keys:
        secret = passphrase()
        validators = [KeyPair.load(p, secret) for p in validator_keys]
    else:
        validators = [KeyPair.generate()]
        key_path = path.parent / f"{path.stem}.validator-0.key"
        if key_path.exists():
            raise InputError(f"{key_path} already exists; not overwriting a key")
        chain = Chain.create(path, validators, contract, chain_id or DEFAULT_CHAIN_ID,
                             DEMO_PARAMS)
        validators[0].save(key_path, passphrase(development=True))
        chain.close()
        return f"created {path} (chain id {chain.chain_id}); validator key {key_path}"
    chain = Chain.create(path, validators, contract, chain_id or DEFAULT_CHAIN_ID, DEMO_PARAMS)
    chain.close()
    return f"created {path} (chain id {chain.chain_id}) with {len(validators)} validators"


def demo_orders(
    participants: Sequence[KeyPair], count: int, interval: int, nonces: dict[bytes, int],
    chain_id: int,
) -> list[Transaction]:
    """``count`` signed orders for ``interval`` spread over the participants: the even ones
    bid, the odd ones offer, at prices between the default feed-in and retail tariffs."""
    txs = []
    for i in range(count):
        p = i % len(participants)
        key = participants[p]
        body = Order(interval, Side.OFFER if p % 2 else Side.BID, 500 + (i * 37) % 1500,
                     80 + (i * 13) % 220)
        txs.append(sign(body, key, nonces[key.public], chain_id))
        nonces[key.public] += 1
    return txs


def register_homes(chain: Chain, validator: KeyPair, homes: Sequence[KeyPair]) -> dict[bytes, int]:
    """Register ``homes`` (with development meter and view keys) and give each a development
    deposit; the homes' next nonces."""
    join(EmbeddedLedger(chain, [validator], EventStream(), ViewKey.development("demo")), [
        RegisterParticipant(home.public, i + 1, Role.PROSUMER,
                            KeyPair.development(f"meter-of-{home.public.hex()}").public,
                            ViewKey.development(f"view-of-{home.public.hex()}").public)
        for i, home in enumerate(homes)
    ], DEMO_DEPOSIT, chain.head.timestamp)
    return {k.public: chain.next_nonce(k.public) for k in homes}


def fill_demo_chain(
    chain: Chain, validator: KeyPair, blocks: int, tx_per_block: int, participants: int = 40
) -> None:
    """Register and fund ``participants`` development homes, then add blocks of signed orders,
    each block's orders for the interval after next."""
    homes = [KeyPair.development(f"home-{i}") for i in range(participants)]
    nonces = register_homes(chain, validator, homes)
    t = chain.head.timestamp
    for _ in range(blocks):
        t += INTERVAL_S
        txs = demo_orders(homes, tx_per_block, t + 2 * INTERVAL_S, nonces, chain.chain_id)
        chain.produce(txs, t, validator)


def demo_chain(path: Path, blocks: int, tx_per_block: int, contract: Contract | None = None) -> str:
    validator = KeyPair.development("validator-0")
    chain = Chain.create(path, [validator], contract=contract, contract_params=DEMO_PARAMS,
                         timestamp=DEMO_START)
    try:
        fill_demo_chain(chain, validator, blocks, tx_per_block)
    finally:
        chain.close()
    return f"wrote {path}: {blocks + 3} blocks, {blocks * tx_per_block} signed orders"
