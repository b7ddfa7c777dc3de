"""Private records: meter readings and settlement details sealed to the home, the validators
and the auditors, each home's on its own channels; the contract opens them with the
validators' view key, refuses what does not open, is sealed to the wrong readers or reuses a
sequence number, and cannot execute what no key at hand opens."""

from dataclasses import replace

import pytest

from testbed.agents.proposer import settle
from testbed.ledger import encoding as enc
from testbed.ledger.keys import ViewKey
from testbed.ledger.sealing import BrokenSeal, Keyring, NotAddressed, Sealer, open_sealed, seal
from testbed.ledger.state import BlockContext, Rejected
from testbed.ledger.transactions import RegisterAuditor, Side, sign
from testbed.market import private
from testbed.market.contract import MarketContract
from testbed.market.params import MarketParams

from .conftest import VALIDATOR, VALIDATORS_VIEW, Market, T, key, with_broken_wrap
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


def _channel(m, name, kind=private.READING):
    return private.channel_context(7, (kind, m.accounts[name].public))


def test_a_sealed_reading_is_stored_as_read(m):
    body = m.reading("A", 700, 0)
    assert body.reading.opening[0].readers == tuple(sorted(
        (m.views["A"].public, VALIDATORS_VIEW.public, AUDITOR_VIEW.public)))
    assert enc.encode(700, enc.U64) not in enc.encode(body)
    m.apply(m.meters["A"], body, END)
    stored = m.contract.readings[(T, m.accounts["A"].public)]
    assert (stored.imported_wh, stored.exported_wh) == (700, 0)
    channel = m.contract.channels[(private.READING, m.accounts["A"].public)]
    assert channel.key_commitment == body.reading.opening[0].key_commitment
    assert channel.last_seq == T  # a record's number is its interval


def test_each_reader_opens_the_same_reading(m):
    body = m.reading("A", 700, 0)
    info = private.reading_context(7, m.accounts["A"].public, T)
    plain = {open_sealed(body.reading, Keyring([k]), info, _channel(m, "A"), T)
             for k in (m.views["A"], VALIDATORS_VIEW, AUDITOR_VIEW)}
    assert plain == {enc.encode(private.ReadingPlain(700, 0))}
    with pytest.raises(NotAddressed):
        open_sealed(body.reading, Keyring([m.views["B"]]), info, _channel(m, "A"), T)


def _three_intervals(m):
    """Orders of A and C for the two intervals after T, cleared."""
    for later in (T + 900, T + 1800):
        m.order("A", Side.BID, 500, 250, interval=later, lock=1000)
        m.order("C", Side.OFFER, 500, 100, interval=later, lock=1000)
        m.clear(later)


def test_a_meters_later_readings_continue_its_channel(m):
    """One opening per channel: the meter's later readings carry no wraps, every reader
    follows the channel (the auditor, re-executing, too), and a wrong reader still cannot."""
    _three_intervals(m)
    sealer = Sealer()
    bodies = []
    for k, interval in enumerate((T, T + 900, T + 1800)):
        body = private.seal_reading(m.contract, m.accounts["A"].public, interval, 700 + k, 0,
                                    sealer)
        m.apply(m.meters["A"], body, interval + 900)
        bodies.append(body)
    assert [bool(b.reading.opening) for b in bodies] == [True, False, False]
    assert len(enc.encode(bodies[1].reading)) == 1 + 4 + 16 + 16  # no wraps, no number
    assert m.contract.readings[(T + 1800, m.accounts["A"].public)].imported_wh == 702
    for keys in ([m.views["A"]], [AUDITOR_VIEW]):
        reader = private.RecordReader(Keyring(keys))
        read = [reader.reading(sign(b, m.meters["A"], 0, 7), m.accounts["A"].public)
                for b in bodies]
        assert [r.imported_wh for r in read] == [700, 701, 702]
    stranger = private.RecordReader(Keyring([m.views["B"]]))
    for b in bodies:
        with pytest.raises(NotAddressed):
            stranger.reading(sign(b, m.meters["A"], 0, 7), m.accounts["A"].public)


def _read_then_seal_next(m):
    """A's reading of T on the ledger, and A's next one (T + 900) sealed by the same meter."""
    _three_intervals(m)
    sealer = Sealer()
    first = private.seal_reading(m.contract, m.accounts["A"].public, T, 700, 0, sealer)
    m.apply(m.meters["A"], first, END)
    return first, private.seal_reading(m.contract, m.accounts["A"].public, T + 900, 701, 0,
                                       sealer)


def test_a_record_of_an_earlier_interval_than_its_channels_last_is_refused(m):
    """A record's number is its interval and numbers only grow on a channel: a reading
    sealed for T, arriving after the one for T + 900, is refused (with the market's
    900-second deadline it is late anyway, so the channel's rule is called directly)."""
    _three_intervals(m)
    sealer = Sealer()
    early = private.seal_reading(m.contract, m.accounts["A"].public, T, 700, 0, sealer)
    later = private.seal_reading(m.contract, m.accounts["A"].public, T + 900, 701, 0, sealer)
    place = (private.READING, m.accounts["A"].public)
    _, channel = private.open_record(m.contract.view_keys, {}, 7, place, later.reading,
                                     T + 900, private.reading_context(7, place[1], T + 900),
                                     "reading")
    with pytest.raises(Rejected, match=f"uses sequence number {T} on its channel"):
        private.open_record(m.contract.view_keys, {place: channel}, 7, place, early.reading,
                            T, private.reading_context(7, place[1], T), "reading")


def test_a_reading_on_a_channel_never_opened_is_refused(m):
    _, later = _read_then_seal_next(m)
    assert not later.reading.opening
    other = later  # signed by C's meter: on C's channel, which has none yet
    refused(m, m.meters["C"], other, END + 900, "a record on a channel never opened")
    m.apply(m.meters["C"], private.seal_reading(m.contract, m.accounts["C"].public, T, 0, 800),
            END)
    refused(m, m.meters["C"], other, END + 900, "sealed reading does not open")


def test_a_sealer_that_restarts_opens_a_new_channel(m):
    _three_intervals(m)
    m.apply(m.meters["A"], private.seal_reading(m.contract, m.accounts["A"].public, T, 700, 0,
                                                Sealer()), END)
    body = private.seal_reading(m.contract, m.accounts["A"].public, T + 900, 701, 0, Sealer())
    assert body.reading.opening
    m.apply(m.meters["A"], body, END + 900)
    channel = m.contract.channels[(private.READING, m.accounts["A"].public)]
    assert channel.key_commitment == body.reading.opening[0].key_commitment


def test_a_reading_sealed_to_the_wrong_readers_is_refused(m):
    account = m.accounts["A"].public
    info = private.reading_context(7, account, T)
    plain = enc.encode(private.ReadingPlain(700, 0))
    for readers in ((m.views["A"].public, VALIDATORS_VIEW.public),  # no auditor
                    (VALIDATORS_VIEW.public, AUDITOR_VIEW.public),  # not its home
                    (m.views["B"].public, VALIDATORS_VIEW.public, AUDITOR_VIEW.public)):
        body = replace(m.reading("A", 700, 0),
                       reading=seal(plain, readers, info, _channel(m, "A"), T))
        refused(m, m.meters["A"], body, END, "must be sealed to its home, the validators")


def test_a_channel_opened_before_an_auditor_came_is_not_continued(m):
    """Readers are checked on every record: a channel whose readers are no longer the home's
    is refused, and the meter's sealer opens a new one to the new readers."""
    _three_intervals(m)
    sealer = Sealer()
    m.apply(m.meters["A"], private.seal_reading(m.contract, m.accounts["A"].public, T, 700, 0,
                                                sealer), END)
    stale = private.seal_reading(m.contract, m.accounts["A"].public, T + 900, 701, 0, sealer)
    second = ViewKey.development("market-test/auditor-2")
    m.apply(VALIDATOR, RegisterAuditor(key("auditor-2").public, second.public), END)
    refused(m, m.meters["A"], stale, END + 900, "must be sealed to its home, the validators")
    fresh = private.seal_reading(m.contract, m.accounts["A"].public, T + 900, 701, 0, sealer)
    assert second.public in fresh.reading.opening[0].readers
    m.apply(m.meters["A"], fresh, END + 900)


def test_a_reading_that_does_not_open_for_the_validators_is_refused(m):
    body = m.reading("A", 700, 0)
    broken = replace(body, reading=with_broken_wrap(body.reading, VALIDATORS_VIEW.public))
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
    owners = {o.order_id: o.owner for o in m.contract.book(T)}
    homes = private.trading_homes(m.contract.cleared[T].trades, owners)
    assert homes == tuple(sorted((m.accounts["A"].public, m.accounts["C"].public)))
    assert len(details) == 2  # in the trading homes' order: whose each is
    k = homes.index(m.accounts["A"].public)
    a, c = details[k], details[1 - k]
    info = private.detail_context(7, homes[k], T)
    channel = _channel(m, "A", private.DETAIL)
    detail = enc.decode_exact(open_sealed(a, Keyring([m.views["A"]]), info, channel, T),
                              enc.struct_codec(private.HomeSettlement))
    assert (detail.imported_wh, detail.trades) == (700, (private.TradeShare(0, 700, 700),))
    with pytest.raises(NotAddressed):  # C's is not A's to read
        open_sealed(c, Keyring([m.views["A"]]), private.detail_context(7, homes[1 - k], T),
                    _channel(m, "C", private.DETAIL), T)

    def with_a(sealed):  # the details with A's replaced
        return tuple(sealed if d is a else d for d in details)

    other = seal(enc.encode(replace(detail, imported_wh=701)), a.opening[0].readers,
                 info, channel, T)
    for bad, reason in ((details[:1], "one for each of its 2 trading homes"),
                        (details[::-1], "must be sealed to its home"),
                        (with_a(other), "differs from the contract's"),
                        (with_a(c), "must be sealed to its home")):
        refused(m, VALIDATOR, replace(proposal.body, details=bad), END, reason)
    m.apply(VALIDATOR, proposal.body, END)
    assert m.contract.channels[(private.DETAIL, homes[k])].key_commitment == (
        a.opening[0].key_commitment)
    reader = private.RecordReader(Keyring([m.views["A"]]))
    tx = sign(proposal.body, VALIDATOR, 0, 7)
    assert reader.details(tx, homes) == {homes[k]: detail}
    with pytest.raises(BrokenSeal):  # told the wrong homes
        private.RecordReader(Keyring([m.views["A"]])).details(tx, homes[:1])


def test_a_public_market_has_no_details():
    m = Market(["A", "C"])
    m.order("A", Side.BID, 1000, 250)
    m.order("C", Side.OFFER, 800, 100)
    m.clear()
    body = settle(m.contract, T).body
    assert body.details == ()
    fake = seal(b"x", [VALIDATORS_VIEW.public], b"", b"", 0)
    refused(m, VALIDATOR, replace(body, details=(fake,)), END + 900, "in a public market")


def test_no_sealed_reading_before_the_validators_view_key():
    m = Market(["A"])
    m.params = replace(m.params, privacy=1)
    contract = MarketContract()
    contract.params, contract.participants = m.params, m.contract.participants
    with pytest.raises(Rejected, match="no validators' view key"):
        private.readers(contract, m.accounts["A"].public)
