"""A process killed with SIGKILL while appending leaves a ledger that opens, verifies and holds
every block it had committed."""

import os
import random
import signal
import subprocess
import sys
import time

from testbed.ledger.chain import Chain
from testbed.ledger.verify import verify_file

WRITER = r"""
import sys
from pathlib import Path
from testbed.ledger.chain import Chain
from testbed.demo import demo_orders
from testbed.ledger.keys import KeyPair

path = Path(sys.argv[1])
validator = KeyPair.development("validator-0")
homes = [KeyPair.development(f"crash-{i}") for i in range(8)]
chain = Chain.open(path)
nonces = {k.public: chain.next_nonce(k.public) for k in homes}
while True:
    t = chain.head.timestamp + 900
    chain.produce(demo_orders(homes, 40, t + 900, nonces, chain.chain_id), t, validator)
    print(chain.height, flush=True)
"""


def test_sigkill_at_random_points(tmp_path, validator):
    path = tmp_path / "crash.sqlite"
    Chain.create(path, [validator], timestamp=1_000).close()
    rng = random.Random(20261125)
    committed = 0
    for _ in range(12):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        # wait until it is appending, then kill it at a random moment
        first = child.stdout.readline()
        assert first.strip(), "writer did not start"
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(child.pid, signal.SIGKILL)
        out = first + child.stdout.read()
        child.wait()
        reported = [int(x) for x in out.split()]
        report = verify_file(path)
        assert report.ok, report.line()
        assert report.blocks - 1 >= reported[-1] >= committed
        committed = report.blocks - 1
    assert committed > 12
