"""The keys of a run: the validators', and each home's account and meter keys.

By default a run signs with keys generated for it and never written anywhere: once the run
ends nobody, its operator included, can sign another block or transaction as any of its
parties, so its ledger cannot be re-signed after the fact. A user who wants to keep the keys
(to go on with a chain, or to sign as a home elsewhere) gives a key folder: existing key files
there are used, missing ones are created, all encrypted under TESTBED_PASSPHRASE (or a
prompt). Development keys are derived from public names: the same run gives the same ledger
bytes, which tests rely on, and anyone can sign as anyone.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testbed.errors import InputError
from testbed.ledger.keys import KeyPair, passphrase


@dataclass(frozen=True)
class RunKeys:
    validators: tuple[KeyPair, ...]
    accounts: tuple[KeyPair, ...]  # home i's account
    meters: tuple[KeyPair, ...]  # home i's meter

    @classmethod
    def generate(cls, homes: int, validators: int) -> RunKeys:
        """Fresh keys that live only in this process."""
        return cls._from(lambda name: KeyPair.generate(), homes, validators)

    @classmethod
    def development(cls, homes: int, validators: int) -> RunKeys:
        """Keys from public seeds: reproducible, and never for anything of value."""
        warnings.warn("signing with development keys: anyone can re-sign this run's ledger",
                      stacklevel=2)
        return cls._from(lambda name: KeyPair.development(f"market-day/{name}"), homes,
                         validators)

    @classmethod
    def in_folder(cls, folder: Path) -> Callable[[int, int], RunKeys]:
        """Keys kept as encrypted files in ``folder``: loaded when there, created when not."""
        def keys(homes: int, validators: int) -> RunKeys:
            if folder.exists() and not folder.is_dir():
                raise InputError(f"--keys {folder}: not a folder")
            secret = passphrase()

            def key(name: str) -> KeyPair:
                path = folder / f"{name}.key"
                if path.exists():
                    return KeyPair.load(path, secret)
                pair = KeyPair.generate()
                pair.save(path, secret)
                return pair

            return cls._from(key, homes, validators)
        return keys

    @classmethod
    def _from(cls, key: Callable[[str], KeyPair], homes: int, validators: int) -> RunKeys:
        return cls(tuple(key(f"validator-{i}") for i in range(validators)),
                   tuple(key(f"home-{i}") for i in range(homes)),
                   tuple(key(f"meter-{i}") for i in range(homes)))
