"""The chain: validate, execute and commit blocks; replay a stored chain from genesis.

One rule for every block, whether it is proposed here, received from another validator or
replayed by `testbed verify` (`validate_block`): heights and hash links, the proposer in the
genesis validator set, the Merkle root, every signature (one batch call into `kernels`), every
nonce, and the state root after executing the transactions on a copy of the state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import kernels
from testbed.errors import InputError, LedgerError
from testbed.ledger.blocks import Block, BlockHeader, decode_signed_header
from testbed.ledger.encoding import EncodingError
from testbed.ledger.keys import KeyPair
from testbed.ledger.params import DEFAULT_CHAIN_ID
from testbed.ledger.state import BlockContext, ChainState, Contract, Rejected
from testbed.ledger.store import Store, create_store, open_store
from testbed.ledger.transactions import Genesis, Transaction, decode_transaction, sign


class InvalidBlock(LedgerError):
    """A block that breaks the chain's rules: names the height and the first thing wrong."""

    def __init__(self, height: int, reason: str) -> None:
        super().__init__(f"height {height}: {reason}")
        self.height = height
        self.reason = reason


def _context(header: BlockHeader, validators: frozenset[bytes]) -> BlockContext:
    return BlockContext(
        header.chain_id, header.height, header.timestamp, header.proposer, validators
    )


def _execute(
    state: ChainState, header: BlockHeader, txs: Sequence[Transaction]
) -> ChainState:
    """The state after ``txs``, on a copy; the first refused transaction raises InvalidBlock."""
    new = state.copy()
    ctx = _context(header, state.validators)
    for i, tx in enumerate(txs):
        try:
            new.apply(tx, ctx)
        except Rejected as exc:
            raise InvalidBlock(header.height, f"transaction {i}: {exc}") from None
        if i == 0 and header.height == 0:
            ctx = _context(header, new.validators)
    return new


def _first_bad_signature(signed: Sequence[tuple[bytes, bytes, bytes]]) -> int | None:
    """Index of the first invalid (key, message, signature), from one batch verification."""
    if not signed:
        return None
    keys, messages, signatures = zip(*signed)
    ok = kernels.ed25519_verify_batch(keys, messages, signatures)
    return None if ok.all() else int((~ok).argmax())


def _signed(txs: Sequence[Transaction]) -> list[tuple[bytes, bytes, bytes]]:
    return [(tx.sender, tx.signing_message(), tx.signature) for tx in txs]


def validate_block(
    block: Block, state: ChainState, previous: BlockHeader | None
) -> ChainState:
    """Check ``block`` against the chain so far and return the state after it."""
    h = block.header
    expected_height = 0 if previous is None else previous.height + 1
    if h.height != expected_height:
        raise InvalidBlock(h.height, f"out of order: expected height {expected_height}")
    if previous is not None:
        if h.chain_id != previous.chain_id:
            raise InvalidBlock(h.height, f"chain id {h.chain_id}, expected {previous.chain_id}")
        if h.prev_hash != previous.hash:
            raise InvalidBlock(h.height, "previous-hash link broken")
        if h.timestamp < previous.timestamp:
            raise InvalidBlock(h.height, "timestamp earlier than the previous block's")
    elif h.prev_hash != bytes(32):
        raise InvalidBlock(0, "genesis must link to the zero hash")
    if h.tx_count != len(block.transactions):
        raise InvalidBlock(h.height, f"header says {h.tx_count} transactions, block has "
                                     f"{len(block.transactions)}")
    if kernels.merkle_root([tx.txid for tx in block.transactions]) != h.tx_root:
        raise InvalidBlock(h.height, "Merkle root does not match the transactions")
    if previous is None:
        first = block.transactions[0].body if block.transactions else None
        if not isinstance(first, Genesis):
            raise InvalidBlock(0, "genesis block must start with the genesis transaction")
        validators = frozenset(first.validators)
    else:
        validators = state.validators
    if h.proposer not in validators:
        raise InvalidBlock(h.height, "proposer is not a validator")
    bad = _first_bad_signature(
        [(h.proposer, h.signing_message(), block.signature), *_signed(block.transactions)]
    )
    if bad is not None:
        raise InvalidBlock(h.height, "bad block signature" if bad == 0
                           else f"transaction {bad - 1}: bad signature")
    new = _execute(state, h, block.transactions)
    if new.root() != h.state_root:
        raise InvalidBlock(h.height, "state root does not match the replayed state")
    return new


class Chain:
    """A validator's view of the chain: the store, the head and the current state."""

    def __init__(self, store: Store, state: ChainState, head: BlockHeader) -> None:
        self.store = store
        self.state = state
        self.head = head

    @classmethod
    def create(
        cls,
        path: Path | str,
        validators: Sequence[KeyPair],
        contract: Contract | None = None,
        chain_id: int = DEFAULT_CHAIN_ID,
        contract_params: bytes = b"",
        timestamp: int = 0,
    ) -> Chain:
        """A new ledger file holding the genesis block, proposed by the first validator."""
        if not validators:
            raise InputError("a chain needs at least one validator")
        genesis = sign(
            Genesis(tuple(v.public for v in validators), contract_params),
            validators[0], nonce=0, chain_id=chain_id,
        )
        store = create_store(path)
        try:
            block, state = _build(ChainState(contract), None, [genesis], timestamp,
                                  validators[0], chain_id)
            store.append([block])
        except BaseException:  # a ledger without its genesis is no ledger: leave none
            store.discard()
            raise
        return cls(store, state, block.header)

    @classmethod
    def open(cls, path: Path | str, contract: Contract | None = None) -> Chain:
        """Open a stored chain, re-validating every block from genesis."""
        store = open_store(path)
        try:
            state, head, _ = replay(store, contract)
        except BaseException:
            store.close()
            raise
        return cls(store, state, head)

    @property
    def chain_id(self) -> int:
        return self.head.chain_id

    @property
    def height(self) -> int:
        return self.head.height

    def next_nonce(self, account: bytes) -> int:
        return self.state.nonces.get(account, 0)

    def produce(self, txs: Sequence[Transaction], timestamp: int, proposer: KeyPair) -> Block:
        """Propose, sign and commit a block of ``txs``; a bad one raises and stores nothing."""
        if proposer.public not in self.state.validators:
            raise InvalidBlock(self.height + 1, "proposer is not a validator")
        if timestamp < self.head.timestamp:
            raise InvalidBlock(self.height + 1, "timestamp earlier than the previous block's")
        bad = _first_bad_signature(_signed(txs))
        if bad is not None:
            raise InvalidBlock(self.height + 1, f"transaction {bad}: bad signature")
        block, state = _build(self.state, self.head, txs, timestamp, proposer, self.chain_id)
        self.store.append([block])
        self.state, self.head = state, block.header
        return block

    def append(self, block: Block) -> None:
        """Validate a block proposed elsewhere and commit it."""
        state = validate_block(block, self.state, self.head)
        self.store.append([block])
        self.state, self.head = state, block.header

    def close(self) -> None:
        self.store.close()


def _build(
    state: ChainState,
    previous: BlockHeader | None,
    txs: Sequence[Transaction],
    timestamp: int,
    proposer: KeyPair,
    chain_id: int,
) -> tuple[Block, ChainState]:
    height = 0 if previous is None else previous.height + 1
    draft = BlockHeader(chain_id, height, b"", timestamp, b"", b"", proposer.public, len(txs))
    new = _execute(state, draft, txs)
    header = BlockHeader(
        chain_id=chain_id,
        height=height,
        prev_hash=bytes(32) if previous is None else previous.hash,
        timestamp=timestamp,
        tx_root=kernels.merkle_root([tx.txid for tx in txs]),
        state_root=new.root(),
        proposer=proposer.public,
        tx_count=len(txs),
    )
    return Block(header, proposer.sign(header.signing_message()), tuple(txs)), new


def replay(store: Store, contract: Contract | None) -> tuple[ChainState, BlockHeader, int]:
    """Validate every stored block from genesis: the final state, head and transaction count."""
    state, head, count = ChainState(contract), None, 0
    for block in stored_blocks(store):
        state = validate_block(block, state, head)
        head, count = block.header, count + len(block.transactions)
    if head is None:
        raise InvalidBlock(0, "the ledger holds no genesis block")
    return state, head, count


def stored_blocks(store: Store) -> Iterator[Block]:
    """Decode stored blocks one at a time, checking each derived column against its bytes."""
    for stored in store.blocks():
        height = stored.height
        try:
            header, signature = decode_signed_header(stored.signed_header)
        except EncodingError as exc:
            raise InvalidBlock(height, f"header: {exc}") from None
        if header.height != height:
            raise InvalidBlock(height, f"header says height {header.height}")
        if stored.hash != header.hash:
            raise InvalidBlock(height, "stored block hash does not match the header")
        txs = []
        for expected_idx, row in enumerate(stored.transactions):
            if row.idx != expected_idx:
                raise InvalidBlock(height, f"transaction index {row.idx}, expected {expected_idx}")
            try:
                tx = decode_transaction(row.raw)
            except EncodingError as exc:
                raise InvalidBlock(height, f"transaction {row.idx}: {exc}") from None
            if (row.txid, row.sender, row.type) != (tx.txid, tx.sender, tx.type):
                raise InvalidBlock(height, f"transaction {row.idx}: derived keys do not match")
            txs.append(tx)
        yield Block(header, signature, tuple(txs))
