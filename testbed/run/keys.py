"""The keys of a run: the validators', and each home's account and meter keys."""

from __future__ import annotations

from dataclasses import dataclass

from testbed.ledger.keys import KeyPair


@dataclass(frozen=True)
class RunKeys:
    validators: tuple[KeyPair, ...]
    accounts: tuple[KeyPair, ...]  # home i's account
    meters: tuple[KeyPair, ...]  # home i's meter

    @classmethod
    def development(cls, homes: int, validators: int) -> RunKeys:
        """Development keys from public seeds: the same run gives the same ledger bytes, and
        anyone can sign as anyone (never for anything of value)."""
        return cls(
            tuple(KeyPair.development(f"market-day/validator-{i}") for i in range(validators)),
            tuple(KeyPair.development(f"market-day/home-{i}") for i in range(homes)),
            tuple(KeyPair.development(f"market-day/meter-{i}") for i in range(homes)),
        )
