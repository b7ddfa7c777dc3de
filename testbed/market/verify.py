"""The market's ledger: a chain with the market contract plugged in, as `testbed verify` and
the run check it.

A private market's sealed records open only with a view key, so its contract is re-executed
only with one (the validators' or an auditor's). Without one, every rule that needs no
plaintext is checked (links, Merkle roots, signatures, certificates, nonces) and the report
says plainly that the contract and the state roots were not. A key given that opens none of
the ledger's sealed records (a wrong file) is an error, not a verification quietly short of
the contract.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from testbed.errors import InputError, LedgerError
from testbed.ledger.chain import stored_blocks
from testbed.ledger.keys import ViewKey
from testbed.ledger.sealing import Keyring, NotAddressed
from testbed.ledger.store import open_store
from testbed.ledger.transactions import Genesis, SealedReading, Settlement
from testbed.ledger.verify import VerifyReport, verify_file
from testbed.market.contract import MarketContract
from testbed.market.params import MarketParams, Privacy

NEEDS_A_KEY = ("the contract's re-execution (orders, clearings, sealed readings, settlements) "
               "and every block's state root: they need the plaintext of sealed records")


@dataclass(frozen=True)
class Executor:
    """The market contract, holding ``view_keys`` (X25519 private keys, raw), as a recipe a
    replay in another process (`ledger.follow`) can be sent and call there."""

    view_keys: tuple[bytes, ...] = ()

    @classmethod
    def holding(cls, view_keys: Sequence[ViewKey]) -> Executor:
        return cls(tuple(k.private.private_bytes_raw() for k in view_keys))

    def __call__(self) -> MarketContract:
        return MarketContract(Keyring([ViewKey(X25519PrivateKey.from_private_bytes(k))
                                       for k in self.view_keys]))


def verify_ledger(path: Path, view_keys: Sequence[ViewKey] = ()) -> VerifyReport:
    """Re-validate a ledger from genesis, the market contract replayed on every block, its
    sealed records opened with ``view_keys``; a private ledger without a key that opens
    every record is checked as far as it can be, and the report says what was not. A key
    that no sealed record is addressed to: `InputError`."""
    private = _private(path)
    if not view_keys and private:
        return verify_file(path, None, f"{NEEDS_A_KEY} (give --view-key FILE: the "
                                       "validators' or an auditor's view key)")
    if private:
        _require_readers(path, view_keys)
    try:
        return verify_file(path, MarketContract(Keyring(view_keys)))
    except NotAddressed:
        return verify_file(path, None, f"{NEEDS_A_KEY}, and the view key given does not open "
                                       "every sealed record (a home's opens only its own)")


def _require_readers(path: Path, view_keys: Sequence[ViewKey]) -> None:
    """`InputError` if some of ``view_keys`` is a reader of none of the ledger's sealed
    records (while it has some); reads until each key is found. An unreadable ledger passes:
    the replay names its problem."""
    wanted = {k.public for k in view_keys}
    records = 0
    store = open_store(path, readonly=True)
    try:
        for certified in stored_blocks(store):
            for tx in certified.block.transactions:
                body = tx.body
                sealed = ([body.reading] if isinstance(body, SealedReading) else
                          list(body.details) if isinstance(body, Settlement)
                          else [])
                for record in sealed:  # its readers are on its channel's opening
                    records += 1
                    for opening in record.opening:
                        wanted.difference_update(opening.readers)
                if not wanted:
                    return
    except (LedgerError, sqlite3.DatabaseError):
        return
    finally:
        store.close()
    if records:
        raise InputError(f"{path}: view key {min(wanted).hex()[:16]} opens none of its "
                         f"{records} sealed records: not the validators', an auditor's or a "
                         "home's view key of this ledger")


def _private(path: Path) -> bool:
    """Whether the ledger's genesis sets up a private market (unreadable genesis: the replay
    names the problem)."""
    store = open_store(path, readonly=True)
    try:
        genesis = next(stored_blocks(store)).block.transactions[0].body
        return (isinstance(genesis, Genesis) and MarketParams.decode(
            genesis.contract_params).privacy == Privacy.PRIVATE)
    except (StopIteration, IndexError, LedgerError, sqlite3.DatabaseError):
        return False
    finally:
        store.close()
