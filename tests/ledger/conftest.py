import pytest

from testbed.demo import fill_demo_chain
from testbed.ledger.chain import Chain
from testbed.ledger.keys import KeyPair


@pytest.fixture
def validator():
    return KeyPair.development("validator-0")


@pytest.fixture
def small_chain(tmp_path, validator):
    """A stored chain: genesis, registrations, 3 blocks of 5 signed orders."""
    path = tmp_path / "ledger.sqlite"
    chain = Chain.create(path, [validator], timestamp=1_000_000)
    fill_demo_chain(chain, validator, blocks=3, tx_per_block=5, participants=4)
    chain.close()
    return path
