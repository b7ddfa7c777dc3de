"""The chain's constants: one source of truth for ids, versions, domains and size limits."""

DEFAULT_CHAIN_ID = 0x50325045  # "P2PE"
TX_VERSION = 3  # 3: sealed records numbered by their interval (2: a seq each; 1: wraps each)
BLOCK_VERSION = 1

# Domain separation: a signature over one kind of message can never pass for another kind.
TX_DOMAIN = b"p2p-energy-testbed/tx/v1"
BLOCK_DOMAIN = b"p2p-energy-testbed/block/v1"
VOTE_DOMAIN = b"p2p-energy-testbed/vote/v1"
CLOCK_DOMAIN = b"p2p-energy-testbed/clock/v1"
SEAL_DOMAIN = b"p2p-energy-testbed/seal/v3"  # a channel's HPKE info, a sealed record's AAD
SEAL_KEY_DOMAIN = b"p2p-energy-testbed/seal-key/v3"  # the commitment to a channel's key

MAX_TX_PER_BLOCK = 100_000
MAX_TX_BYTES = 1 << 26  # a clearing of MAX_TRADES_PER_CLEARING trades fits
MAX_BLOCK_TX_BYTES = 1 << 28  # a block's transactions, canonical: the most a store inflates
MAX_VALIDATORS = 64
MAX_TRADES_PER_CLEARING = 100_000
MAX_TARIFF_BUSES = 256  # buses of a grid-fee matrix: 65,536 pairs, 256 KiB
MAX_TEXT_BYTES = 256
MAX_PARAMS_BYTES = 4096
MAX_READERS = 16  # recipients of one sealed record: a home, the validators, the auditors
MAX_SEALED_BYTES = 1 << 20  # plaintext of one sealed record
