"""Names for the ledger's byte strings, so a header hash and a transaction id cannot be swapped
silently (py-evm's habit). All are plain `bytes` at run time."""

from typing import NewType

PublicKey = NewType("PublicKey", bytes)
"""32-byte Ed25519 public key: an account, a meter or a validator."""

Signature = NewType("Signature", bytes)
"""64-byte Ed25519 signature."""

TxId = NewType("TxId", bytes)
"""SHA-256 of a signed transaction's canonical bytes; also an order's id on the book."""

BlockHash = NewType("BlockHash", bytes)
"""SHA-256 of a block header's canonical bytes."""

Root = NewType("Root", bytes)
"""32-byte commitment: a Merkle root of transaction ids, or a state root."""

ViewPublicKey = NewType("ViewPublicKey", bytes)
"""32-byte X25519 public key that sealed records are encrypted to: a home's, the validators',
an auditor's."""
