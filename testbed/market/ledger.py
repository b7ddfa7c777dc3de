"""The market's ledger: a chain with the market contract plugged in, as `testbed verify` and
the run check it."""

from __future__ import annotations

from pathlib import Path

from testbed.ledger.verify import VerifyReport, verify_file
from testbed.market.contract import MarketContract


def verify_ledger(path: Path) -> VerifyReport:
    """Re-validate a ledger from genesis, the market contract replayed on every block."""
    return verify_file(path, MarketContract())
