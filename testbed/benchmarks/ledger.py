"""`testbed bench ledger`: append and full-verify throughput for blocks of 1,000 signed orders,
beside the same signatures verified one by one with `cryptography` in one thread."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from testbed.benchmarks import BenchResult, median_seconds
from testbed.demo import DEMO_PARAMS, DEMO_START, INTERVAL_S, demo_orders, register_homes
from testbed.ledger.chain import Chain
from testbed.ledger.keys import KeyPair
from testbed.market.contract import MarketContract
from testbed.market.verify import verify_ledger

TX_PER_BLOCK = 1_000


def run(quick: bool = False) -> BenchResult:
    n_blocks, repeats = (2, 1) if quick else (10, 5)
    validator = KeyPair.development("validator-0")
    homes = [KeyPair.development(f"bench-{i}") for i in range(40)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite"
        chain = Chain.create(path, [validator], MarketContract(), contract_params=DEMO_PARAMS,
                             timestamp=DEMO_START)
        nonces = register_homes(chain, validator, homes)
        blocks = [
            demo_orders(homes, TX_PER_BLOCK, DEMO_START + (b + 3) * INTERVAL_S, nonces,
                        chain.chain_id)
            for b in range(n_blocks)
        ]
        append_times = []
        for b, txs in enumerate(blocks):
            start = time.perf_counter()
            chain.produce(txs, DEMO_START + (b + 1) * INTERVAL_S, validator)
            append_times.append(time.perf_counter() - start)
        chain.close()

        n_tx = n_blocks * TX_PER_BLOCK
        verify_s = median_seconds(lambda: verify_ledger(path), repeats)
        signed = [(tx.sender, tx.signing_message(), tx.signature) for txs in blocks for tx in txs]

        def one_by_one() -> None:
            for key, message, signature in signed:
                Ed25519PublicKey.from_public_bytes(key).verify(signature, message)

        baseline_s = median_seconds(one_by_one, repeats)

    append_tps = TX_PER_BLOCK / statistics.median(append_times)
    verify_tps = n_tx / verify_s
    baseline_tps = n_tx / baseline_s
    return BenchResult(
        benchmark="ledger",
        results={
            "blocks": n_blocks,
            "tx_per_block": TX_PER_BLOCK,
            "append_tx_per_s": append_tps,
            "verify_tx_per_s": verify_tps,
            "single_thread_cryptography_sig_per_s": baseline_tps,
        },
        ratios={
            "append_vs_single_thread_cryptography": append_tps / baseline_tps,
            "verify_vs_single_thread_cryptography": verify_tps / baseline_tps,
        },
        notes=[
            "append = validate + execute (market contract) + commit one block",
            ("verify = full replay from genesis (decode, Merkle, signatures, nonces, contract, "
            "state root)"),
        ],
    )
