"""One exception root for the whole project, with typed leaves that say what a user can do.

Every package raises `TestbedError` or one of its leaves: `kernels`, `grid_models` and
`instruments` derive their own roots from it (the one module of `testbed` they import), so the
CLI maps every error a user can cause or fix in one place: one line on stderr, exit code
``exit_code``. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class TestbedError(Exception):
    """Something a user caused or can fix: bad input, a refused transaction, a device that
    does not answer. The message is one line that names the input, the height or the device."""

    __test__ = False  # not a pytest test class, despite its name
    exit_code = 2


class InputError(TestbedError):
    """A file or an option is missing, malformed or out of range: fix the input it names."""


class ScenarioError(InputError):
    """A scenario with problems. Every bad key is listed (power-grid-model's habit), so one
    edit of the file fixes them all."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source, self.problems = source, tuple(problems)
        if len(self.problems) == 1:
            super().__init__(f"{source}: {self.problems[0]}")
        else:
            listed = "; ".join(self.problems)
            super().__init__(f"{source}: {len(self.problems)} problems: {listed}")


class KeyFileError(InputError):
    """A key file that cannot be read: wrong passphrase (set TESTBED_PASSPHRASE), not a key,
    or not an Ed25519 key."""


class LedgerError(TestbedError):
    """The ledger refused something or holds something wrong; the message names where."""


class LedgerUnavailable(LedgerError):
    """The validator network did not commit a batch by its deadline: too few validators or
    servers answered. Not the user's input, so not exit 2: 69 (sysexits' EX_UNAVAILABLE, a
    service unavailable); the message names who did not answer and what the run kept."""

    exit_code = 69


class Interrupted(TestbedError):
    """A run stopped by Ctrl-C (SIGINT) or SIGTERM; the message says what was kept."""

    def __init__(self, message: str, signal_name: str = "SIGINT") -> None:
        super().__init__(message)
        self.exit_code = 143 if signal_name == "SIGTERM" else 130


class RunStopped(TestbedError):
    """A run the bench stopped (a device tripped it into its safe state); the message says
    why and what was kept."""


class StoreError(LedgerError):
    """A ledger file that cannot be used: not a ledger, damaged, or in the way of a new one."""

