"""The market's rules as numbers: one frozen dataclass, encoded into the genesis transaction.

Units everywhere in the market: money in the smallest currency unit (defaults assume 1 unit =
0.1 euro cent), energy in Wh, prices in money units per kWh, times in seconds since the Unix
epoch (block time, never the wall clock). Every amount of money is ``cost(energy_wh, price)``
rounded down, and every payment moves one integer from one account to another, so money is
conserved exactly whatever the rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

from testbed.ledger import encoding as enc
from testbed.ledger.encoding import U8, U32, U64, Codec, EncodingError
from testbed.ledger.ids import PublicKey
from testbed.ledger.state import Rejected
from testbed.ledger.transactions import Constraint, Side

UTILITY = PublicKey(bytes(32))
"""The utility's account in payments: no key can sign for it, so it only appears as the other
side of retail, feed-in and penalty payments, and its flows are counted, not balanced."""

NO_CONSTRAINT = Constraint(0, "", 0, 0)
"""The constraint of a trade granted in full (kind 0); codes of the others: `grid_gate`."""

MAX_MONEY = (1 << 62) - 1
"""No balance may exceed this: the state root encodes balances as u64, with headroom."""


def _param(codec: Codec[int], default: int) -> int:
    return field(default=default, metadata={"codec": codec})


class Mechanism(IntEnum):
    PAY_AS_CLEAR = 1  # every trade at the uniform clearing price
    PAY_AS_BID = 2  # every trade at the midpoint of its own bid and offer prices


class PaymentKind(IntEnum):
    TRADE = 1  # buyer -> seller, delivered energy at the trade price
    RETAIL = 2  # buyer -> utility, energy the buyer imported but the seller did not deliver
    PENALTY = 3  # seller -> utility, energy the seller sold but did not export
    FEED_IN = 4  # utility -> seller, energy the seller exported but the buyer did not take
    FORFEIT = 5  # owner -> utility, a sealed order never revealed (`sealed`)
    GRID_FEE = 6  # seller -> utility, the grid fee on energy delivered on a trade (`fees`)


class Privacy(IntEnum):
    PUBLIC = 0  # orders and meter readings in plaintext on the ledger
    PRIVATE = 1  # sealed bids (`sealed`); readings and settlement detail sealed (`private`)


@dataclass(frozen=True)
class MarketParams:
    """Market parameters. The defaults are the market every scenario gets unless it says
    otherwise; they are part of the chain (genesis), so every validator applies the same."""

    interval_seconds: int = _param(U32, 900)
    gate_closure_seconds: int = _param(U32, 300)  # orders close this long before delivery
    mechanism: int = _param(U8, int(Mechanism.PAY_AS_CLEAR))
    feed_in_price_per_kwh: int = _param(U64, 80)  # the utility buys at 8 ct/kWh: the floor
    retail_price_per_kwh: int = _param(U64, 300)  # the utility sells at 30 ct/kWh: the ceiling
    shortfall_penalty_per_kwh: int = _param(U64, 100)  # per kWh sold but not exported
    reading_deadline_seconds: int = _param(U32, 900)  # after the interval's end
    order_horizon_seconds: int = _param(U32, 86_400)  # how far ahead an order may be placed
    max_energy_wh: int = _param(U64, 100_000)  # larger orders or readings are absurd
    privacy: int = _param(U8, int(Privacy.PRIVATE))
    reveal_seconds: int = _param(U32, 60)  # sealed orders are revealed this long after the gate
    unrevealed_penalty_units: int = _param(U64, 1000)  # forfeited by an order never revealed
    grid_fee_per_kwh: int = _param(U64, 0)  # on delivered energy, until the operator sets fees

    def check(self) -> MarketParams:
        """Self, or `Rejected` naming the first inconsistent parameter."""
        if self.interval_seconds <= 0:
            raise Rejected("market parameters: interval_seconds must be positive")
        if self.reading_deadline_seconds <= 0:
            raise Rejected("market parameters: reading_deadline_seconds must be positive")
        if self.gate_closure_seconds >= self.order_horizon_seconds:
            raise Rejected("market parameters: gate closure beyond the order horizon")
        if self.mechanism not in set(Mechanism):
            raise Rejected(f"market parameters: unknown mechanism {self.mechanism}")
        if not 0 < self.feed_in_price_per_kwh <= self.retail_price_per_kwh:
            raise Rejected("market parameters: need 0 < feed-in price <= retail price")
        if not 0 < self.max_energy_wh <= 10**9:
            raise Rejected("market parameters: max_energy_wh must be in 1..10^9")
        if self.retail_price_per_kwh > 10**6 or self.shortfall_penalty_per_kwh > 10**6:
            raise Rejected("market parameters: prices above 10^6 units per kWh")
        if self.privacy not in set(Privacy):
            raise Rejected(f"market parameters: unknown privacy {self.privacy}")
        if self.privacy == Privacy.PRIVATE and not 0 < self.reveal_seconds < (
                self.gate_closure_seconds):
            raise Rejected("market parameters: sealed orders need reveal_seconds > 0 and "
                           "shorter than gate_closure_seconds (revealed before delivery)")
        if self.grid_fee_per_kwh > self.shortfall_penalty_per_kwh:
            raise Rejected("market parameters: grid_fee_per_kwh above the shortfall penalty "
                           "(a seller's escrow pays it)")
        if self.unrevealed_penalty_units > MAX_MONEY:
            raise Rejected("market parameters: unrevealed_penalty_units too large")
        return self

    def encode(self) -> bytes:
        """Canonical bytes, for `Genesis.contract_params`."""
        return enc.encode(self)

    @classmethod
    def decode(cls, data: bytes) -> MarketParams:
        """Parameters from genesis bytes; empty bytes mean the defaults."""
        if not data:
            return cls()
        try:
            params = enc.decode_exact(data, enc.struct_codec(cls))
        except EncodingError as exc:
            raise Rejected(f"market parameters: {exc}") from None
        return params.check()


def cost(energy_wh: int, price_per_kwh: int) -> int:
    """Money for ``energy_wh`` at ``price_per_kwh``, rounded down (the one rounding rule)."""
    return energy_wh * price_per_kwh // 1000


def _escrow_rate(params: MarketParams, side: int) -> int:
    return params.retail_price_per_kwh if side == Side.BID else params.shortfall_penalty_per_kwh


def escrow(params: MarketParams, side: int, energy_wh: int) -> int:
    """What an order locks at submission: a bid its energy at retail (its worst case at
    settlement), an offer its energy at the shortfall penalty."""
    return cost(energy_wh, _escrow_rate(params, side))


def affordable_wh(params: MarketParams, side: int, balance: int) -> int:
    """The most energy an order of ``side`` can have with ``balance`` to escrow."""
    rate = _escrow_rate(params, side)
    return params.max_energy_wh if rate == 0 else ((balance + 1) * 1000 - 1) // rate


# --- float conversions: simulation and proposer side only, never in the contract ------------


def wh_to_kw(energy_wh: int, interval_seconds: int) -> float:
    """Average power of ``energy_wh`` over an interval."""
    return energy_wh * 3.6 / interval_seconds


def kw_to_wh(power_kw: float, interval_seconds: int) -> int:
    """Energy of ``power_kw`` over an interval, rounded down to whole Wh (a grant or a forecast
    never exceeds the power it came from); negative power gives 0."""
    return max(0, math.floor(power_kw * interval_seconds / 3.6 + 1e-9))
