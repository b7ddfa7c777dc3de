"""The keys of a run: the validators' signing keys and view key, each home's account, meter and
view keys, and the run's auditor (an account that signs nothing, and its view key).

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from testbed.errors import InputError
from testbed.ledger.keys import KeyPair, PublicOnly, ViewKey, passphrase
from testbed.ledger.sealing import Entropy, fresh_entropy, seeded_entropy


@dataclass(frozen=True)
class RunKeys:
    validators: tuple[KeyPair, ...]
    accounts: tuple[KeyPair | PublicOnly, ...]  # home i's account
    meters: tuple[KeyPair, ...]  # home i's meter
    views: tuple[ViewKey | PublicOnly, ...]  # home i's view key: its sealed records open
    # with it
    validators_view: ViewKey  # every validator's (an embedded ledger's)
    auditor: KeyPair
    auditor_view: ViewKey
    entropy: Entropy = fresh_entropy  # the randomness of salts and sealed records
    dev_keys: bool = False  # derived from public names: anyone can sign as any party

    @classmethod
    def generate(cls, homes: int, validators: int) -> RunKeys:
        """Fresh keys that live only in this process."""
        return cls._from(lambda name: KeyPair.generate(), lambda name: ViewKey.generate(),
                         homes, validators)

    @classmethod
    def development(cls, homes: int, validators: int) -> RunKeys:
        """Keys from public seeds: reproducible, and never for anything of value."""
        warnings.warn("signing with development keys: anyone can re-sign this run's ledger",
                      stacklevel=2)
        keys = cls._from(lambda name: KeyPair.development(f"market-day/{name}"),
                         lambda name: ViewKey.development(f"market-day/{name}"), homes,
                         validators)
        return replace(keys, entropy=seeded_entropy(b"market-day"), dev_keys=True)

    @classmethod
    def in_folder(cls, folder: Path) -> Callable[[int, int], RunKeys]:
        """Keys kept as encrypted files in ``folder``: loaded when there, created when not."""
        def keys(homes: int, validators: int) -> RunKeys:
            if folder.exists() and not folder.is_dir():
                raise InputError(f"--keys {folder}: not a folder")
            secret = passphrase()

            def kept(kind: type[KeyPair | ViewKey], suffix: str
                     ) -> Callable[[str], KeyPair | ViewKey]:
                def key(name: str) -> KeyPair | ViewKey:
                    path = folder / f"{name}{suffix}"
                    if path.exists():
                        return kind.load(path, secret)
                    made = kind.generate()
                    made.save(path, secret)
                    return made
                return key

            return cls._from(kept(KeyPair, ".key"), kept(ViewKey, ".view"), homes, validators)
        return keys

    def with_external(self, homes: Mapping[int, tuple[bytes, bytes]]) -> RunKeys:
        """These keys with home i's account and view key replaced by the public halves
        ``homes[i]`` (account, view) of an external home's own keys."""
        accounts, views = list(self.accounts), list(self.views)
        for i, (account, view) in homes.items():
            accounts[i], views[i] = PublicOnly(account), PublicOnly(view)
        return replace(self, accounts=tuple(accounts), views=tuple(views))

    @classmethod
    def _from(cls, signing: Callable[[str], KeyPair], viewing: Callable[[str], ViewKey],
              homes: int, validators: int) -> RunKeys:
        return cls(tuple(signing(f"validator-{i}") for i in range(validators)),
                   tuple(signing(f"home-{i}") for i in range(homes)),
                   tuple(signing(f"meter-{i}") for i in range(homes)),
                   tuple(viewing(f"home-{i}") for i in range(homes)),
                   viewing("validators"), signing("auditor"), viewing("auditor"))
