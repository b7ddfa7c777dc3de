"""`testbed verify`: re-validate a stored chain from genesis and say so in one line."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
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

    def line(self) -> str:
        if self.ok:
            return (f"valid: {self.blocks} blocks, {self.transactions} transactions, "
                    f"state root {self.state_root.hex()}")
        return f"invalid: {self.problem}"


def verify_file(path: Path, contract: Contract | None = None) -> VerifyReport:
    """Replay every block; the first broken rule, unreadable record or damaged page is named.

    Only a file that is not a ledger at all raises (a user error, not a verdict).
    """
    store = open_store(path, readonly=True)
    try:
        _, head, txs = replay(store, contract)
    except InvalidBlock as exc:
        return VerifyReport(False, exc.height, 0, b"", str(exc))
    except (sqlite3.DatabaseError, StoreError) as exc:
        return VerifyReport(False, 0, 0, b"", f"unreadable ledger: {exc}")
    finally:
        store.close()
    return VerifyReport(True, head.height + 1, txs, head.state_root)
