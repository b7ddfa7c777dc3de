"""Readings: at an interval's end, every home's meter signs what it measured. A physical home's
meter is an instrument (its counters over the interval); a modelled home's is its actual
profiles plus its battery's schedule, and a seller the grid curtailed exports no more than it
was granted (its inverter held the rest back)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from testbed.events import MeterRead
from testbed.interval.block import Ledger, signed
from testbed.ledger.keys import KeyPair
from testbed.ledger.transactions import MeterReading, Transaction
from testbed.market.strategies import Home, metered


def readings(k: int, interval: int, homes: Sequence[Home], accounts: Sequence[KeyPair],
             meters: Sequence[KeyPair], battery_wh: Sequence[int],
             measured_wh: Mapping[int, tuple[int, int]], export_caps_wh: Mapping[int, int],
             interval_s: int, ledger: Ledger) -> tuple[list[Transaction], list[MeterRead]]:
    """Each home's signed reading of interval ``k``; ``measured_wh``: (imported, exported) of
    the physical homes, ``export_caps_wh``: the granted export of curtailed sellers."""
    txs, read = [], []
    for i, (home, account, meter) in enumerate(zip(homes, accounts, meters)):
        imported, exported = measured_wh.get(i) or metered(home, k, battery_wh[i], interval_s)
        if i in export_caps_wh:
            exported = min(exported, export_caps_wh[i])
        txs.append(signed(ledger, meter, MeterReading(account.public, interval, imported,
                                                       exported)))
        read.append(MeterRead(k, interval, i, imported, exported))
    return txs, read
