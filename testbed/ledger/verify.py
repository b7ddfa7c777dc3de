"""`testbed verify`: re-validate a stored chain from genesis and say so in one line."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

from testbed.errors import StoreError
from testbed.ledger.chain import InvalidBlock, replay
from testbed.ledger.state import Contract
from testbed.ledger.store import open_store


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    blocks: int
    transactions: int
    state_root: bytes
    problem: str = ""
    head_hash: bytes = b""
    unchecked: str = ""  # what this verification could not check, and why

    def line(self) -> str:
        if self.ok and self.unchecked:
            return (f"valid as far as checked: {self.blocks} blocks, {self.transactions} "
                    f"transactions, head {self.head_hash.hex()}; links, Merkle roots, "
                    f"signatures, certificates and nonces checked; NOT checked: "
                    f"{self.unchecked}")
        if self.ok:
            return (f"valid: {self.blocks} blocks, {self.transactions} transactions, "
                    f"head {self.head_hash.hex()}, state root {self.state_root.hex()}")
        return f"invalid: {self.problem}"

    def expecting_head(self, head_hash: str) -> VerifyReport:
        """This report, invalid unless the last block is ``head_hash`` (hex): a ledger cut
        short or extended since its head was recorded is caught."""
        if not self.ok or self.head_hash.hex() == head_hash.lower():
            return self
        return replace(self, ok=False, problem=(
            f"height {self.blocks - 1}: the head is {self.head_hash.hex()}, expected "
            f"{head_hash.lower()} (a ledger cut short or extended)"))


def verify_file(path: Path, contract: Contract | None = None, unchecked: str = "",
                ) -> VerifyReport:
    """Replay every block; the first broken rule, unreadable record or damaged page is named.
    ``unchecked``: the contract cannot be executed here (say why): every rule but the
    contract's and the state roots is checked.

    Only a file that is not a ledger at all raises (a user error, not a verdict).
    """
    store = open_store(path, readonly=True)
    try:
        _, head, txs = replay(store, contract, check_state=not unchecked)
    except InvalidBlock as exc:
        return VerifyReport(False, exc.height, 0, b"", str(exc))
    except (sqlite3.DatabaseError, StoreError) as exc:
        return VerifyReport(False, 0, 0, b"", f"unreadable ledger: {exc}")
    finally:
        store.close()
    return VerifyReport(True, head.height + 1, txs, head.state_root, head_hash=head.hash,
                        unchecked=unchecked)
