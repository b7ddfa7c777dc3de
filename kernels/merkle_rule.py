"""The ledger's Merkle tree rule, one source of truth for every backend.

- A leaf hashes as SHA-256(0x00 || leaf); an inner node as SHA-256(0x01 || left || right).
  Distinct prefixes mean a leaf can never be passed off as an inner node (no second preimage).
- Odd level: the last node is promoted unchanged to the next level (never duplicated, so two
  different leaf lists can never share a root, unlike Bitcoin's duplicate-last rule).
- No leaves: the root is 32 zero bytes.
"""

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = bytes(32)
