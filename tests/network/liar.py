"""A lying validator, for tests only: `python tests/network/liar.py CONFIG` runs a node with
the key and store of CONFIG that lies in every way the network must survive.

- Its proposals, turn by turn: a wrong state root, a forged transaction (signature zeroed), a
  double spend (a transaction twice), and two different blocks at one height.
- Each invalid block is also appended to the ordering stream with a forged certificate.
- It votes for every block it sees, valid or not, as often as it likes.
"""

import itertools
import sys
from dataclasses import replace
from pathlib import Path

import kernels
from testbed.ledger.blocks import Block
from testbed.ledger.certificates import Certificate, CertifiedBlock
from testbed.ledger.chain import build_block
from testbed.ledger.wire import Proposal
from testbed.network.consensus import Validator
from testbed.network.node import main

LIES = ("wrong state root", "forged transaction", "double spend", "two blocks")


class LyingValidator(Validator):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lies = itertools.cycle(LIES)

    def _propose(self, parent, round_: int) -> None:
        height = parent.height + 1
        at, txs = self.candidates(parent)
        clock = self.clocks.get(at) if at > parent.timestamp else None
        if not txs or (at > parent.timestamp and clock is None):
            return
        state = self._state_of(parent.hash)[1]
        good = build_block(state, parent, txs, at, self.key).block
        if not good.transactions:
            return
        self.proposed.add((height, round_))
        lie = next(self.lies)
        print(f"liar: proposed {lie} at height {height}", flush=True)
        if lie == "two blocks":
            other = build_block(state, parent, txs[1:] or txs, at, self.key).block
            for block in (good, other):
                self.out.messages.append(("proposal", Proposal(round_, clock, block).encoded))
                self.out.messages.append(("vote", self.cast(block).encoded))
            return
        bad = self._corrupt(good, lie)
        self.out.messages.append(("proposal", Proposal(round_, clock, bad).encoded))
        self.out.messages.append(("vote", self.cast(bad).encoded))
        forged = sorted({(self.key.public, self.cast(bad).signature),
                         *((v, bytes(64)) for v in self.validators if v != self.key.public)})
        self.to_append[bad.header.hash] = CertifiedBlock(bad, Certificate(
            bad.header.chain_id, bad.header.height, bad.header.hash, tuple(forged)))

    def _corrupt(self, block: Block, lie: str) -> Block:
        h, txs = block.header, list(block.transactions)
        if lie == "forged transaction":
            txs[0] = replace(txs[0], signature=bytes(64))
        elif lie == "double spend":
            txs.append(txs[-1])
        header = replace(h, tx_count=len(txs),
                         tx_root=kernels.merkle_root([tx.txid for tx in txs]),
                         state_root=bytes(32) if lie == "wrong state root" else h.state_root)
        return Block(header, self.key.sign(header.signing_message()), tuple(txs))

    def on_proposal(self, proposal: Proposal) -> None:
        super().on_proposal(proposal)
        if proposal.block.header.hash not in self.pending:  # invalid, or a second one
            self.out.messages.append(("vote", self.cast(proposal.block).encoded))


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), LyingValidator))
