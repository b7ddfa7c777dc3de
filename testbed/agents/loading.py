"""Traders by name: a built-in strategy, or an agent file (a Python module with one class
that has ``decide(knowledge, rng)``), and the choice of which homes use it.

A scenario's ``households.strategy`` (a sweep's ``strategy`` axis) is ``NAME`` or
``NAME:SHARE``: the trader ``NAME`` for every home, or for that share of the homes (picked with
the scenario's seed), the others keeping their kind's built-in trader. Names: ``by_kind`` (the
default: each home's built-in trader), ``zip`` (`agents.zip`), or a path to an agent file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from testbed.agents.home import Home
from testbed.agents.host import AgentHost, HostedTrader
from testbed.agents.strategies import BY_KIND
from testbed.agents.trader import Trader
from testbed.agents.zip import Zip

BUILT_IN: dict[str, Callable[[], Trader] | None] = {"by_kind": None, "zip": Zip}
"""The built-in trader names (None: each home's kind's own)."""
SHARE_SEED = 24
"""Mixed into the scenario's seed to pick the homes that use the chosen trader."""


@dataclass(frozen=True)
class StrategyChoice:
    name: str = "by_kind"  # a built-in name or an agent file's path
    share: float = 1.0

    def __str__(self) -> str:
        return self.name if self.share == 1.0 else f"{self.name}:{self.share:g}"

    @property
    def is_file(self) -> bool:
        return self.name not in BUILT_IN


def parse_strategy(text: str) -> StrategyChoice:
    """``NAME`` or ``NAME:SHARE``; `ValueError` saying what is wrong (a file is not opened)."""
    name, colon, share_text = text.strip().rpartition(":")
    if not colon:
        name, share_text = text.strip(), "1"
    try:
        share = float(share_text)
    except ValueError:
        raise ValueError(f"strategy {text!r}: expected NAME or NAME:SHARE with SHARE in "
                         "[0, 1]") from None
    if not 0 <= share <= 1:
        raise ValueError(f"strategy {text!r}: the share must be in [0, 1]")
    if name not in BUILT_IN and not name.endswith(".py"):
        raise ValueError(f"strategy {text!r}: one of {', '.join(BUILT_IN)} or an agent "
                         "file (.py)")
    return StrategyChoice(name, share)


def traders(homes: Sequence[Home], choice: StrategyChoice, seed: int) -> tuple[Trader, ...]:
    """A trader per home: ``choice`` for its share of ``homes`` (each home its own
    instance; an agent file's in a process of its own, `host`, closed with `close`), the
    kind's built-in one for the others."""
    n = len(homes)
    chosen: set[int] = set()
    if choice.name != "by_kind":
        rng = np.random.default_rng([seed, SHARE_SEED])
        chosen = {int(i) for i in rng.choice(n, round(choice.share * n), replace=False)}
    if choice.is_file and chosen:
        host = AgentHost(Path(choice.name))
        return tuple(HostedTrader(host, i) if i in chosen else BY_KIND[h.kind]
                     for i, h in enumerate(homes))
    make = BUILT_IN[choice.name]
    return tuple(make() if make is not None and i in chosen else BY_KIND[h.kind]
                 for i, h in enumerate(homes))


def close(traders: Sequence[Trader]) -> None:
    """Stop the agent processes of ``traders`` (if any)."""
    for host in {t.host for t in traders if isinstance(t, HostedTrader)}:
        host.close()
