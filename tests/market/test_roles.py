"""Roles on the ledger: each transaction from the one role that may send it, every other
sender refused with a one-line reason that names its role, the state untouched."""

import pytest

from testbed.ledger.keys import ViewKey
from testbed.ledger.state import BlockContext, Rejected
from testbed.ledger.transactions import (
    Deposit,
    MeterReading,
    Order,
    OrderCommitment,
    RegisterAuditor,
    SetValidatorsViewKey,
    Side,
    sign,
)
from testbed.market.roles import MAY_SEND, Party

from .conftest import CHAIN_ID, VALIDATOR, VALIDATORS_VIEW, Market, T, key
from .test_bad_input import BEFORE_GATE, END, refused

AUDITOR = key("auditor")
AUDITOR_VIEW = ViewKey.development("market-test/auditor")


@pytest.fixture
def m() -> Market:
    market = Market(["A", "B"], private=True)
    market.apply(VALIDATOR, RegisterAuditor(AUDITOR.public, AUDITOR_VIEW.public), 0)
    return market


def test_every_market_transaction_has_one_role():
    assert set(MAY_SEND.values()) == {Party.OPERATOR, Party.HOME, Party.METER}


def test_an_order_from_a_meter(m):
    body = OrderCommitment(T, bytes(32), 2000)
    refused(m, m.meters["A"], body, BEFORE_GATE,
            "OrderCommitment from a meter (")
    refused(m, m.meters["A"], body, BEFORE_GATE, "only a home may send it")


def test_a_meter_reading_for_another_home(m):
    """A sealed reading is the reading of the home its meter is bound to: B's, signed by A's
    meter, is taken as A's and refused, being sealed to B's readers."""
    m.clear()
    body = m.reading("B", 100, 0)
    refused(m, m.meters["A"], body, END, "must be sealed to its home")


def test_a_registration_from_a_home(m):
    refused(m, m.accounts["A"], m.registration("A"), 0, "RegisterParticipant from a home")
    refused(m, m.accounts["A"], RegisterAuditor(key("x").public, AUDITOR_VIEW.public), 0,
            "only the operator may send it")


def test_an_auditor_writes_nothing(m):
    for body, ts in ((OrderCommitment(T, bytes(32), 2000), BEFORE_GATE),
                     (Deposit(m.accounts["A"].public, 5), 0),
                     (MeterReading(m.accounts["A"].public, T, 1, 0), END)):
        refused(m, AUDITOR, body, ts, "from an auditor")


def test_a_validator_that_is_not_the_operator_signs_no_transaction():
    other = key("validator-2")
    m = Market(["A"])
    ctx = BlockContext(CHAIN_ID, 1, 0, VALIDATOR.public,
                       frozenset({VALIDATOR.public, other.public}), VALIDATOR.public)
    with pytest.raises(Rejected, match=r"Deposit from a validator \(.*only the operator"):
        m.contract.apply(sign(Deposit(m.accounts["A"].public, 5), other, 0, CHAIN_ID), ctx)


def test_one_key_one_role(m):
    refused(m, VALIDATOR, RegisterAuditor(m.meters["A"].public, AUDITOR_VIEW.public), 0,
            "is already a meter")
    refused(m, VALIDATOR, RegisterAuditor(AUDITOR.public, AUDITOR_VIEW.public), 0,
            "is already an auditor")
    refused(m, VALIDATOR, SetValidatorsViewKey(VALIDATORS_VIEW.public), 0,
            "set for the chain's life")


def test_plaintext_orders_and_readings_are_refused_in_a_private_market(m):
    refused(m, m.accounts["A"], Order(T, Side.BID, 100, 200), BEFORE_GATE,
            "a plaintext order in a private market")
    m.clear()
    refused(m, m.meters["A"], MeterReading(m.accounts["A"].public, T, 1, 0), END,
            "a plaintext meter reading in a private market")


def test_sealed_orders_are_refused_in_a_public_market():
    m = Market(["A"])
    refused(m, m.accounts["A"], OrderCommitment(T, bytes(32), 2000), BEFORE_GATE,
            "a sealed order in a public market")
