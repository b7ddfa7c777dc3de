"""Private records: meter readings and settlement details sealed to the home, the validators
and the auditors; the contract opens them with the validators' view key, refuses what does
not open or is sealed to the wrong readers, and cannot execute what no key at hand opens."""

from dataclasses import replace

import pytest

from testbed.ledger import encoding as enc
from testbed.ledger.keys import ViewKey
from testbed.ledger.sealing import Keyring, NotAddressed, open_sealed, seal
from testbed.ledger.state import BlockContext, Rejected
from testbed.ledger.transactions import RegisterAuditor, SealedDetail, Side, sign
from testbed.market import private
from testbed.market.contract import MarketContract
from testbed.market.params import MarketParams
from testbed.market.proposer import settle

from .conftest import VALIDATOR, VALIDATORS_VIEW, Market, T, key
from .test_bad_input import END, refused

AUDITOR_VIEW = ViewKey.development("market-test/auditor")


@pytest.fixture
def m() -> Market:
    market = Market(["A", "B", "C"], MarketParams(unrevealed_penalty_units=50), deposit=10_000,
                    private=True)
    market.apply(VALIDATOR, RegisterAuditor(key("auditor").public, AUDITOR_VIEW.public), 0)
    market.order("A", Side.BID, 1000, 250, lock=1000)
    market.order("C", Side.OFFER, 800, 100, lock=1000)
    market.clear()
    return market


def test_a_sealed_reading_is_stored_as_read(m):
    body = m.reading("A", 700, 0)
    assert body.reading.readers == tuple(sorted(
        (m.views["A"].public, VALIDATORS_VIEW.public, AUDITOR_VIEW.public)))
    assert enc.encode(700, enc.U64) not in enc.encode(body)
    m.apply(m.meters["A"], body, END)
    stored = m.contract.readings[(T, m.accounts["A"].public)]
    assert (stored.imported_wh, stored.exported_wh) == (700, 0)


def test_each_reader_opens_the_same_reading(m):
    body = m.reading("A", 700, 0)
    info = private.reading_context(7, m.accounts["A"].public, T)
    plain = {open_sealed(body.reading, Keyring([k]), info)
             for k in (m.views["A"], VALIDATORS_VIEW, AUDITOR_VIEW)}
    assert plain == {enc.encode(private.ReadingPlain(700, 0))}
    with pytest.raises(NotAddressed):
        open_sealed(body.reading, Keyring([m.views["B"]]), info)


def test_a_reading_sealed_to_the_wrong_readers_is_refused(m):
    account = m.accounts["A"].public
    info = private.reading_context(7, account, T)
    plain = enc.encode(private.ReadingPlain(700, 0))
    for readers in ((m.views["A"].public, VALIDATORS_VIEW.public),  # no auditor
                    (VALIDATORS_VIEW.public, AUDITOR_VIEW.public),  # not its home
                    (m.views["B"].public, VALIDATORS_VIEW.public, AUDITOR_VIEW.public)):
        body = replace(m.reading("A", 700, 0), reading=seal(plain, readers, info))
        refused(m, m.meters["A"], body, END, "must be sealed to its home, the validators")


def test_a_reading_that_does_not_open_for_the_validators_is_refused(m):
    body = m.reading("A", 700, 0)
    wraps = tuple(replace(w, sealed_key=bytes(len(w.sealed_key)))
                  if w.reader == VALIDATORS_VIEW.public else w for w in body.reading.wraps)
    broken = replace(body, reading=replace(body.reading, wraps=wraps))
    refused(m, m.meters["A"], broken, END, "sealed reading does not open")


def test_a_reading_moved_to_another_interval_does_not_open(m):
    body = m.reading("A", 700, 0, interval=T)
    m.order("A", Side.BID, 500, 250, interval=T + 900, lock=1000)
    m.order("C", Side.OFFER, 500, 100, interval=T + 900, lock=1000)
    m.clear(T + 900)
    moved = replace(body, interval=T + 900)
    refused(m, m.meters["A"], moved, END + 900, "sealed reading does not open")


def test_an_executor_without_a_key_cannot_execute_a_sealed_reading(m):
    body = m.reading("A", 700, 0)
    blind = m.contract.copy()
    blind.view_keys = Keyring()
    tx = sign(body, m.meters["A"], m.nonces[m.meters["A"].public], 7)
    ctx = BlockContext(7, 9, END, VALIDATOR.public, frozenset({VALIDATOR.public}),
                       VALIDATOR.public)
    with pytest.raises(NotAddressed):
        blind.apply(tx, ctx)
    auditor = m.contract.copy()
    auditor.view_keys = Keyring([AUDITOR_VIEW])  # an auditor re-executes with its own key
    auditor.apply(tx, ctx)
    assert auditor.readings[(T, m.accounts["A"].public)].imported_wh == 700


def test_settlement_details_are_sealed_and_checked(m):
    m.read("A", 700, 0)
    m.read("C", 0, 800)
    proposal = settle(m.contract, T)
    details = proposal.body.details
    assert [d.participant for d in details] == sorted(
        (m.accounts["A"].public, m.accounts["C"].public))
    a = next(d for d in details if d.participant == m.accounts["A"].public)
    info = private.detail_context(7, a.participant, T)
    detail = enc.decode_exact(open_sealed(a.detail, Keyring([m.views["A"]]), info),
                              enc.struct_codec(private.HomeSettlement))
    assert (detail.imported_wh, detail.trades) == (700, (private.TradeShare(0, 700, 700),))
    c = next(d for d in details if d.participant != a.participant)

    def with_a(sealed):  # the details with A's replaced
        return tuple(SealedDetail(a.participant, sealed) if d is a else d for d in details)

    other = seal(enc.encode(replace(detail, imported_wh=701)), a.detail.readers, info)
    for bad, reason in ((details[:1], "a sealed detail for each trading home"),
                        (with_a(other), "differs from the contract's"),
                        (with_a(c.detail), "is not sealed to its home")):
        refused(m, VALIDATOR, replace(proposal.body, details=bad), END, reason)
    m.apply(VALIDATOR, proposal.body, END)


def test_a_public_market_has_no_details():
    m = Market(["A", "C"])
    m.order("A", Side.BID, 1000, 250)
    m.order("C", Side.OFFER, 800, 100)
    m.clear()
    body = settle(m.contract, T).body
    assert body.details == ()
    fake = SealedDetail(m.accounts["A"].public, seal(b"x", [VALIDATORS_VIEW.public], b""))
    refused(m, VALIDATOR, replace(body, details=(fake,)), END + 900, "in a public market")


def test_no_sealed_reading_before_the_validators_view_key():
    m = Market(["A"])
    m.params = replace(m.params, privacy=1)
    contract = MarketContract()
    contract.params, contract.participants = m.params, m.contract.participants
    with pytest.raises(Rejected, match="no validators' view key"):
        private.readers(contract, m.accounts["A"].public)
