"""The chain: validate, execute and commit blocks; replay a stored chain from genesis.

One rule for every block, whether it is proposed here, received from another validator or
replayed by `testbed verify` (`validate_block`): heights and hash links, the proposer in the
genesis validator set, the Merkle root, every signature (one batch call into `kernels`), every
nonce, and the state root after executing the transactions on a copy of the state. A block is
committed with its quorum certificate (`certificates`), checked by `check_certificate` when it
is appended and when the chain is replayed. The embedded chain (one validator) certifies its
own blocks with its own vote; on a network the votes come from the other validators
(`testbed.network`), and `build_block` is how a proposer fills a block from a mempool.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic

import numpy as np

import kernels
from testbed.errors import InputError, LedgerError
from testbed.ledger.blocks import Block, BlockHeader, decode_signed_header
from testbed.ledger.certificates import (
    Certificate,
    CertifiedBlock,
    decode_certificate,
    quorum,
    vote_message,
)
from testbed.ledger.encoding import EncodingError
from testbed.ledger.ids import BlockHash, PublicKey, Root, Signature
from testbed.ledger.keys import KeyPair
from testbed.ledger.params import DEFAULT_CHAIN_ID
from testbed.ledger.state import BlockContext, C, ChainState, Contract, Rejected
from testbed.ledger.store import Store, create_store, open_store
from testbed.ledger.store.packing import unpack
from testbed.ledger.transactions import Genesis, Transaction, sign
from testbed.ledger.wire import decode_transactions


class InvalidBlock(LedgerError):
    """A block that breaks the chain's rules: names the height and the first thing wrong."""

    def __init__(self, height: int, reason: str) -> None:
        super().__init__(f"height {height}: {reason}")
        self.height = height
        self.reason = reason


_NO_PROPOSER = PublicKey(b"")  # a preview's, when the caller does not say who proposes next
_Signed = tuple[PublicKey, bytes, Signature]
"""A signature to check: (key, message, signature)."""


def _draft(chain_id: int, height: int, timestamp: int, proposer: PublicKey, tx_count: int,
           ) -> BlockHeader:
    """A header to execute transactions under before the block's hashes are known."""
    return BlockHeader(chain_id, height, BlockHash(b""), timestamp, Root(b""), Root(b""),
                       proposer, tx_count)


def _context(header: BlockHeader, state: ChainState[C]) -> BlockContext:
    return BlockContext(header.chain_id, header.height, header.timestamp, header.proposer,
                        state.validators, state.operator)


def _execute(
    state: ChainState[C], header: BlockHeader, txs: Sequence[Transaction]
) -> ChainState[C]:
    """The state after ``txs``, on a copy; the first refused transaction raises InvalidBlock."""
    new = state.copy()
    _execute_onto(new, header, _context(header, state), txs)
    return new


def _execute_onto(new: ChainState[C], header: BlockHeader, ctx: BlockContext,
                  txs: Sequence[Transaction], first: int = 0) -> None:
    """``txs``, the block's transactions from index ``first`` on, applied to ``new`` in place
    under ``ctx``; the first refused transaction raises InvalidBlock."""
    for i, tx in enumerate(txs, first):
        try:
            new.apply(tx, ctx)
        except Rejected as exc:
            raise InvalidBlock(header.height, f"transaction {i}: {exc}") from None
        if i == 0 and header.height == 0:
            ctx = _context(header, new)


@dataclass(frozen=True)
class _Previewed(Generic[C]):
    """The state a `Chain.preview` computed (a copy of what it returned), kept so that the
    block that starts with the same transactions does not execute them again."""

    head: BlockHash
    context: BlockContext
    txids: tuple[bytes, ...]
    state: ChainState[C]


def _first_bad_signature(signed: Sequence[_Signed | None]) -> int | None:
    """Index of the first invalid (key, message, signature), from one batch verification."""
    ok = _signatures_ok(signed)
    return None if ok.all() else int((~ok).argmax())


def _signatures_ok(
    signed: Sequence[_Signed | None],
) -> np.ndarray:
    """Whether each (key, message, signature) is valid, in one batch; None counts as valid
    (a signature this validator has already checked)."""
    ok = np.ones(len(signed), dtype=bool)
    todo = [i for i, s in enumerate(signed) if s is not None]
    if todo:
        keys, messages, signatures = zip(*(signed[i] for i in todo))
        ok[todo] = kernels.ed25519_verify_batch(keys, messages, signatures)
    return ok


def _signed(
    txs: Sequence[Transaction], verified: Container[bytes] = (),
) -> list[_Signed | None]:
    return [None if tx.txid in verified else (tx.sender, tx.signing_message(), tx.signature)
            for tx in txs]


def validate_block(
    block: Block, state: ChainState[C], previous: BlockHeader | None,
    verified: Container[bytes] = (), check_state: bool = True,
) -> ChainState[C]:
    """Check ``block`` against the chain so far and return the state after it.

    ``verified``: ids of transactions whose signatures the caller has itself checked already
    (a node, when it admitted them to its mempool); every other signature is checked here.
    ``check_state`` False: a verifier that cannot execute the contract (sealed records and no
    view key) checks everything but the state root."""
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
        [(h.proposer, h.signing_message(), block.signature),
         *_signed(block.transactions, verified)]
    )
    if bad is not None:
        raise InvalidBlock(h.height, "bad block signature" if bad == 0
                           else f"transaction {bad - 1}: bad signature")
    new = _execute(state, h, block.transactions)
    if check_state and new.root() != h.state_root:
        raise InvalidBlock(h.height, "state root does not match the replayed state")
    return new


def check_certificate(
    header: BlockHeader, certificate: Certificate | None, validators: frozenset[PublicKey]
) -> None:
    """Raise `InvalidBlock` unless ``certificate`` holds a quorum of ``validators``' votes on
    ``header``. Genesis needs none (it names the validators); a block of a ledger written
    before certificates has none, which only a one-validator chain can do without: there the
    proposer's own signature on the header is the whole quorum."""
    if header.height == 0:
        if certificate is not None:
            raise InvalidBlock(0, "the genesis block carries no certificate")
        return
    if certificate is None:
        if len(validators) == 1:
            return
        raise InvalidBlock(header.height, "no quorum certificate")
    problem = certificate.problem(header, validators)
    if problem is not None:
        raise InvalidBlock(header.height, problem)


def local_certificate(block: Block, validators: Iterable[KeyPair]) -> Certificate:
    """The certificate of ``validators``' votes, their keys held in this process (an embedded
    chain; a one-validator chain: its own vote)."""
    h = block.header
    message = vote_message(h.chain_id, h.height, h.hash)
    return Certificate(h.chain_id, h.height, h.hash,
                       tuple(sorted((v.public, v.sign(message)) for v in validators)))


@dataclass(frozen=True)
class Built(Generic[C]):
    """A block a proposer filled: the state after it, and the candidates left out, each with
    the reason (a bad signature, or the rule that refused it in this block)."""

    block: Block
    state: ChainState[C]
    refused: tuple[tuple[Transaction, str], ...]


def build_block(
    state: ChainState[C], previous: BlockHeader, candidates: Sequence[Transaction], timestamp: int,
    proposer: KeyPair, verified: Container[bytes] = (),
) -> Built[C]:
    """Sign a block of the ``candidates`` that apply, in their order, on top of ``previous``;
    the others are left out with their reason. What it returns passes `validate_block`.
    ``verified``: as for `validate_block`."""
    height = previous.height + 1
    if timestamp < previous.timestamp:
        raise InvalidBlock(height, "timestamp earlier than the previous block's")
    ok = _signatures_ok(_signed(candidates, verified))
    draft = _draft(previous.chain_id, height, timestamp, proposer.public, 0)
    new = state.copy()
    ctx = _context(draft, state)
    txs, refused = [], []
    for tx, signed_ok in zip(candidates, ok):
        if not signed_ok:
            refused.append((tx, "bad signature"))
            continue
        try:
            new.apply(tx, ctx)
        except Rejected as exc:
            refused.append((tx, str(exc)))
            continue
        txs.append(tx)
    block = _sign(previous.chain_id, height, previous.hash, timestamp, txs, new, proposer)
    return Built(block, new, tuple(refused))


class Chain(Generic[C]):
    """A validator's view of the chain: the store, the head and the current state.

    Each block is stored as it is committed, unless ``holding``: then blocks wait in memory
    until `flush` stores them in one database transaction (a run stores an interval's blocks
    together). Either way the store holds a prefix of the chain: what a killed process had
    flushed, whole, and nothing after it."""

    def __init__(self, store: Store, state: ChainState[C], head: BlockHeader) -> None:
        self.store = store
        self.state = state
        self.head = head
        self.holding = False
        self._held: list[CertifiedBlock] = []
        self._previewed: _Previewed[C] | None = None

    @classmethod
    def create(
        cls,
        path: Path | str,
        validators: Sequence[KeyPair],
        contract: C | None = None,
        chain_id: int = DEFAULT_CHAIN_ID,
        contract_params: bytes = b"",
        timestamp: int = 0,
        operator: KeyPair | None = None,
    ) -> Chain[C]:
        """A new ledger file holding the genesis block, proposed by the first validator and
        its genesis transaction signed by the operator (default: that validator)."""
        first = validators[0] if validators else None
        genesis = genesis_block([v.public for v in validators], first, operator or first,
                                contract, contract_params, timestamp, chain_id)
        return cls.from_genesis(path, genesis, contract)

    @classmethod
    def from_genesis(cls, path: Path | str, genesis: Block,
                     contract: C | None = None) -> Chain[C]:
        """A new ledger file holding ``genesis`` (a network's, made by `genesis_block`)."""
        state = validate_block(genesis, ChainState(contract), None)
        store = create_store(path)
        try:
            store.append([CertifiedBlock(genesis, None)])
        except BaseException:  # a ledger without its genesis is no ledger: leave none
            store.discard()
            raise
        return cls(store, state, genesis.header)

    @classmethod
    def open(cls, path: Path | str, contract: C | None = None) -> Chain[C]:
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

    def next_nonce(self, account: PublicKey) -> int:
        return self.state.nonces.get(account, 0)

    def preview(self, txs: Sequence[Transaction], timestamp: int,
                proposer: PublicKey = _NO_PROPOSER) -> ChainState[C]:
        """The state after ``txs`` in the next block at ``timestamp`` (proposed by
        ``proposer``), on a copy: what a proposer reads to write a transaction that must
        follow them in the same block. Signatures are not checked here (the block's commit
        checks them). The next `produce` of a block that starts with ``txs``, on the same head,
        at the same time and by the same proposer, starts from this state."""
        draft = _draft(self.chain_id, self.height + 1, timestamp, proposer, len(txs))
        state = _execute(self.state, draft, txs)
        self._previewed = _Previewed(self.head.hash, _context(draft, self.state),
                                     tuple(tx.txid for tx in txs), state.copy())
        return state

    def _executed(self, header: BlockHeader, txs: Sequence[Transaction]) -> ChainState[C]:
        """The state after ``txs`` in the block ``header`` drafts: from the last preview's
        state when it executed the block's first transactions in the same context."""
        previewed, self._previewed = self._previewed, None
        ctx = _context(header, self.state)
        done = len(previewed.txids) if previewed is not None else 0
        if (previewed is None or previewed.head != self.head.hash or previewed.context != ctx
                or tuple(tx.txid for tx in txs[:done]) != previewed.txids):
            return _execute(self.state, header, txs)
        _execute_onto(previewed.state, header, ctx, txs[done:], first=done)
        return previewed.state

    def produce(self, txs: Sequence[Transaction], timestamp: int, proposer: KeyPair,
                voters: Sequence[KeyPair] = (), verified: Container[bytes] = ()) -> Block:
        """Propose, sign, certify and commit a block of ``txs`` in this process (the embedded
        chain): the certificate holds the votes of the proposer and of ``voters``, validators
        whose keys this process holds, and must be a quorum. A bad block raises and stores
        nothing. ``verified``: as for `validate_block`."""
        height = self.height + 1
        if proposer.public not in self.state.validators:
            raise InvalidBlock(height, "proposer is not a validator")
        signers = {k.public: k for k in (proposer, *voters) if k.public in self.state.validators}
        if len(signers) < quorum(len(self.state.validators)):
            raise InvalidBlock(height, f"{len(self.state.validators)} validators: a block needs "
                                       f"{quorum(len(self.state.validators))} votes, this "
                                       f"process holds {len(signers)} of their keys")
        if timestamp < self.head.timestamp:
            raise InvalidBlock(height, "timestamp earlier than the previous block's")
        bad = _first_bad_signature(_signed(txs, verified))
        if bad is not None:
            raise InvalidBlock(height, f"transaction {bad}: bad signature")
        state = self._executed(_draft(self.chain_id, height, timestamp, proposer.public,
                                      len(txs)), txs)
        block = _sign(self.chain_id, height, self.head.hash, timestamp, txs, state, proposer)
        self.commit(CertifiedBlock(block, local_certificate(block, signers.values())), state)
        return block

    def append(self, certified: CertifiedBlock) -> None:
        """Check a certified block from elsewhere (its certificate, then `validate_block`) and
        commit it."""
        check_certificate(certified.block.header, certified.certificate, self.state.validators)
        self.commit(certified, validate_block(certified.block, self.state, self.head))

    def commit(self, certified: CertifiedBlock, state: ChainState[C]) -> None:
        """Store a block already validated into ``state`` (by `validate_block` or
        `build_block` on this chain's head) and make it the head."""
        if certified.block.header.prev_hash != self.head.hash:
            raise InvalidBlock(certified.block.header.height, "does not extend the head")
        if self.holding:
            self._held.append(certified)
        else:
            self.store.append([certified])
        self.state, self.head = state, certified.block.header

    def flush(self) -> None:
        """Store the blocks committed since the last flush, in one database transaction."""
        if self._held:
            held, self._held = self._held, []
            self.store.append(held)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.store.close()


def genesis_block(
    validators: Sequence[PublicKey], proposer: KeyPair | None, operator: KeyPair | None,
    contract: Contract | None = None, contract_params: bytes = b"", timestamp: int = 0,
    chain_id: int = DEFAULT_CHAIN_ID,
) -> Block:
    """The first block: the genesis transaction (the validator set and the contract's
    parameters), signed by the operator, in a block signed by ``proposer``, one of
    ``validators``."""
    if not validators or proposer is None or operator is None:
        raise InputError("a chain needs at least one validator")
    genesis = sign(Genesis(tuple(validators), contract_params), operator, nonce=0,
                   chain_id=chain_id)
    draft = _draft(chain_id, 0, timestamp, proposer.public, 1)
    state = _execute(ChainState(contract.copy() if contract else None), draft, [genesis])
    return _sign(chain_id, 0, BlockHash(bytes(32)), timestamp, [genesis], state, proposer)


def _sign(
    chain_id: int, height: int, prev_hash: BlockHash, timestamp: int, txs: Sequence[Transaction],
    state: ChainState[C], proposer: KeyPair,
) -> Block:
    """The block of ``txs``, already executed into ``state``, signed by ``proposer``."""
    header = BlockHeader(
        chain_id=chain_id,
        height=height,
        prev_hash=prev_hash,
        timestamp=timestamp,
        tx_root=Root(kernels.merkle_root([tx.txid for tx in txs])),
        state_root=state.root(),
        proposer=proposer.public,
        tx_count=len(txs),
    )
    return Block(header, proposer.sign(header.signing_message()), tuple(txs))


class Replay(Generic[C]):
    """Stored blocks validated in order from genesis, each with its certificate: fed one at a
    time (`follow` checks a file as it grows), or a whole store at once (`replay`)."""

    def __init__(self, contract: C | None, check_state: bool = True) -> None:
        self.state = ChainState(contract)
        self.check_state = check_state  # as for `validate_block`
        self.head: BlockHeader | None = None
        self.transactions = 0

    @property
    def height(self) -> int:
        return -1 if self.head is None else self.head.height

    def feed(self, certified: CertifiedBlock) -> None:
        """Validate the next block (`InvalidBlock` when it breaks a rule)."""
        block = certified.block
        check_certificate(block.header, certified.certificate, self.state.validators)
        self.state = validate_block(block, self.state, self.head,
                                    check_state=self.check_state)
        self.head = block.header
        self.transactions += len(block.transactions)


def replay(store: Store, contract: C | None, check_state: bool = True,
           ) -> tuple[ChainState[C], BlockHeader, int]:
    """Validate every stored block and its certificate from genesis: the final state, head and
    transaction count (``check_state``: as for `validate_block`)."""
    checked = Replay(contract, check_state)
    for certified in stored_blocks(store):
        checked.feed(certified)
    if checked.head is None:
        raise InvalidBlock(0, "the ledger holds no genesis block")
    return checked.state, checked.head, checked.transactions


def stored_blocks(store: Store, after: int = -1) -> Iterator[CertifiedBlock]:
    """Decode stored blocks above height ``after`` one at a time; bytes that are not exactly
    canonical, or do not unpack, are refused."""
    for stored in store.blocks(after):
        height = stored.height
        try:
            header, signature = decode_signed_header(stored.signed_header)
        except EncodingError as exc:
            raise InvalidBlock(height, f"header: {exc}") from None
        if header.height != height:
            raise InvalidBlock(height, f"header says height {header.height}")
        try:
            txs = decode_transactions(unpack(stored.transactions))
        except EncodingError as exc:
            raise InvalidBlock(height, f"transactions: {exc}") from None
        certificate = None
        if stored.certificate is not None:
            try:
                certificate = decode_certificate(stored.certificate)
            except EncodingError as exc:
                raise InvalidBlock(height, f"certificate: {exc}") from None
        yield CertifiedBlock(Block(header, signature, txs), certificate)
