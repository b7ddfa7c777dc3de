"""Phase connections: a home on one phase, or on all three. Cheap to import (numpy only), so
the scenario parser can check a phase without loading the power flow."""

from __future__ import annotations

import numpy as np

PHASE_NAMES = ("a", "b", "c")
PHASES = (*PHASE_NAMES, "abc")
"""A load's connection: one phase, or all three (a third of its power on each)."""
PHASE_SHARES = {"a": (1.0, 0.0, 0.0), "b": (0.0, 1.0, 0.0), "c": (0.0, 0.0, 1.0),
                "abc": (1.0 / 3, 1.0 / 3, 1.0 / 3)}
"""The share of a connection's power on each phase (a, b, c)."""
PHASE_SETTINGS = ("balanced", "unbalanced")
"""How a feeder is solved: one positive-sequence network, or three phases and a neutral."""


def draw_phases(rng: np.random.Generator, n: int) -> tuple[str, ...]:
    """``n`` single phases (a, b or c), each equally likely, drawn from ``rng``."""
    return tuple(PHASES[i] for i in rng.integers(0, 3, n))
