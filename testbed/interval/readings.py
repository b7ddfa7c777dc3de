"""Readings: at an interval's end, every home's meter signs what it measured. A physical home's
meter is an instrument (its counters over the interval); a modelled home's is its actual
profiles plus its battery's schedule, less the PV its inverter gave up to the operator's export
limit and to volt-watt (taken from its export first, then from what it covered of its load).
In a private market the meter seals its reading to the home, the validators and the auditors
(`market.private`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from testbed.agents.home import Home, metered
from testbed.events import MeterRead
from testbed.interval.block import Ledger, signed_all
from testbed.ledger.keys import KeyPair
from testbed.ledger.sealing import Sealers
from testbed.ledger.transactions import MeterReading, Transaction
from testbed.market.private import seal_reading


def readings(k: int, interval: int, homes: Sequence[Home], accounts: Sequence[KeyPair],
             meters: Sequence[KeyPair], battery_wh: Sequence[int],
             measured_wh: Mapping[int, tuple[int, int]], curtailed_wh: Sequence[int],
             interval_s: int, ledger: Ledger, sealers: Sealers | None = None,
             ) -> tuple[list[Transaction], list[MeterRead]]:
    """Each home's signed reading of interval ``k``; ``measured_wh``: (imported, exported) of
    the physical homes, ``curtailed_wh``: the PV each modelled home gave up (empty: none);
    ``sealers``: the meters' (a private market)."""
    signers, read = [], []
    contract = ledger.contract
    sealers = sealers or Sealers()
    for i, (home, account, meter) in enumerate(zip(homes, accounts, meters)):
        imported, exported = measured_wh.get(i) or metered(home, k, battery_wh[i], interval_s)
        if curtailed_wh and curtailed_wh[i]:
            net = imported - exported + curtailed_wh[i]
            imported, exported = max(net, 0), max(-net, 0)
        body = (seal_reading(contract, account.public, interval, imported, exported,
                             sealers.of(meter.public))
                if contract.is_private
                else MeterReading(account.public, interval, imported, exported))
        signers.append((meter, body))
        read.append(MeterRead(k, interval, i, imported, exported))
    return signed_all(ledger, signers), read
