"""Development chains: `testbed ledger init` and `testbed ledger demo`.

Development keys are derived from public seeds (so demos are reproducible) and written
encrypted under the development passphrase unless TESTBED_PASSPHRASE is set.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

from testbed.ledger.chain import Chain
from testbed.ledger.keys import KeyPair, passphrase
from testbed.ledger.params import DEFAULT_CHAIN_ID
from testbed.ledger.state import Contract
from testbed.ledger.transactions import Order, RegisterParticipant, Role, Side, Transaction, sign

DEMO_START = 1_751_356_800  # 2025-07-01T08:00:00Z, a summer morning
INTERVAL_S = 900


def dev_key(name: str) -> KeyPair:
    """A development key from a public seed: reproducible, and so worthless outside tests."""
    return KeyPair.from_seed(hashlib.sha256(b"testbed-dev-key/" + name.encode()).digest())


def init_chain(path: Path, validator_keys: Sequence[Path], chain_id: int | None) -> str:
    """Create a chain; validators from key files, or one fresh development validator whose
    key file is written beside the ledger."""
    if validator_keys:
        secret = passphrase()
        validators = [KeyPair.load(p, secret) for p in validator_keys]
    else:
        validators = [KeyPair.generate()]
        key_path = path.parent / f"{path.stem}.validator-0.key"
        if key_path.exists():
            from testbed.errors import UserError

            raise UserError(f"{key_path} already exists; not overwriting a key")
        chain = Chain.create(path, validators, chain_id=chain_id or DEFAULT_CHAIN_ID)
        validators[0].save(key_path, passphrase(development=True))
        chain.close()
        return f"created {path} (chain id {chain.chain_id}); validator key {key_path}"
    chain = Chain.create(path, validators, chain_id=chain_id or DEFAULT_CHAIN_ID)
    chain.close()
    return f"created {path} (chain id {chain.chain_id}) with {len(validators)} validators"


def demo_orders(
    participants: Sequence[KeyPair], count: int, interval: int, nonces: dict[bytes, int],
    chain_id: int,
) -> list[Transaction]:
    """``count`` signed orders spread over the participants: sellers offer, buyers bid."""
    txs = []
    for i in range(count):
        key = participants[i % len(participants)]
        side = Side.OFFER if i % len(participants) % 2 else Side.BID
        body = Order(interval, side, 500 + (i * 37) % 1500, 80 + (i * 13) % 220)
        txs.append(sign(body, key, nonces[key.public], chain_id))
        nonces[key.public] += 1
    return txs


def fill_demo_chain(
    chain: Chain, validator: KeyPair, blocks: int, tx_per_block: int, participants: int = 40
) -> None:
    """Register ``participants`` development homes, then add blocks of signed orders."""
    homes = [dev_key(f"home-{i}") for i in range(participants)]
    meters = [dev_key(f"meter-{i}") for i in range(participants)]
    nonces = {k.public: chain.next_nonce(k.public) for k in homes}
    registrations = []
    for i, (home, meter) in enumerate(zip(homes, meters)):
        body = RegisterParticipant(bus=i + 1, role=Role.PROSUMER, meter_key=meter.public)
        registrations.append(sign(body, home, nonces[home.public], chain.chain_id))
        nonces[home.public] += 1
    t = chain.head.timestamp
    chain.produce(registrations, t, validator)
    for b in range(blocks):
        t += INTERVAL_S
        txs = demo_orders(homes, tx_per_block, t + INTERVAL_S, nonces, chain.chain_id)
        chain.produce(txs, t, validator)


def demo_chain(path: Path, blocks: int, tx_per_block: int, contract: Contract | None = None) -> str:
    validator = dev_key("validator-0")
    chain = Chain.create(path, [validator], contract=contract, timestamp=DEMO_START)
    try:
        fill_demo_chain(chain, validator, blocks, tx_per_block)
    finally:
        chain.close()
    return f"wrote {path}: {blocks + 2} blocks, {blocks * tx_per_block} signed orders"
