"""A device's link that may break: one exchange at a time, and a broken link or a timeout
reconnects and retries once before giving up with `InstrumentTimeout`.

The SCPI (`scpi`) and SunSpec (`sunspec.driver`) drivers share this; each says how it opens,
sets up and closes the link, which errors are the link's, and what to do around an exchange.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, TypeVar

from instruments.commandlog import CommandLog
from instruments.errors import InstrumentConnectionError, InstrumentTimeout, ProfileMismatch
from instruments.profiles import Profile

T = TypeVar("T")


class ReconnectingLink(ABC):
    """The exchange and reconnect logic of a driver; ``reconnects`` counts the reconnects and
    ``busy`` is True while an exchange runs (a signal handler must not start another then)."""

    #: The exceptions that mean the link broke or timed out (not the device refusing).
    link_errors: ClassVar[tuple[type[BaseException], ...]]

    def __init__(self, name: str, resource: str, profile: Profile, log: CommandLog | None,
                 timeout_ms: int | None) -> None:
        self.name, self.resource, self.profile = name, resource, profile
        self.log = log if log is not None else CommandLog()
        self.timeout_ms = timeout_ms if timeout_ms is not None else profile.timeout_ms
        self.reconnects = 0
        self.busy = False
        self._lock = threading.RLock()

    def _connect(self) -> None:
        """Open the link, then set the device up; a device that does not answer its set-up is
        not what the profile says (`ProfileMismatch`)."""
        self.log.record(self.name, "event", f"connect {self.resource}")
        self._open()
        try:
            self._set_up()
        except self.link_errors as exc:
            self.close()
            raise ProfileMismatch(f"{self.name}: {self._set_up_unanswered(exc)}") from None

    @abstractmethod
    def _open(self) -> None:
        """Open the link; `InstrumentConnectionError` when it cannot."""

    @abstractmethod
    def _set_up(self) -> None:
        """What the device needs before its first exchange."""

    @abstractmethod
    def _set_up_unanswered(self, exc: BaseException) -> str:
        """Why the set-up got no answer, for the `ProfileMismatch` message."""

    @abstractmethod
    def close(self) -> None:
        """Close the link; never raises."""

    def _before_exchange(self) -> None:
        """Run before an exchange's first try (a link known stale can be renewed here)."""

    def _after_reconnect(self, what: str) -> None:
        """Run after a reconnect, before the retry (the device may say why it did not answer)."""

    def _after_failed_retry(self, what: str, exc: BaseException) -> None:
        """The retry failed too: leave the link closed (a driver may open a fresh one)."""
        self.close()

    def _is_timeout(self, exc: BaseException) -> bool:
        return isinstance(exc, TimeoutError)

    def _quoted(self, what: str) -> str:
        """How ``what`` (an operation's name or a command) reads in a message."""
        return what

    def _exchange(self, what: str, run: Callable[[], T]) -> T:
        """Run one exchange; on a timeout or broken link reconnect, then retry once."""
        with self._lock:
            self.busy = True
            try:
                try:
                    self._before_exchange()
                    return run()
                except self.link_errors as exc:
                    self._recover(what, exc)
                try:
                    return run()
                except self.link_errors as exc:
                    self._after_failed_retry(what, exc)
                    raise self._timeout(what, exc) from None
            except (KeyboardInterrupt, SystemExit):
                self.close()  # interrupted mid-exchange: its answer must not reach the next one
                raise
            finally:
                self.busy = False

    def _recover(self, what: str, exc: BaseException) -> None:
        """Open a fresh link (dropping any late answer). A device that cannot be reached again
        is a timeout of ``what``: mid-run, not a set-up error."""
        reason = "timeout" if self._is_timeout(exc) else f"link error ({exc})"
        self.log.record(self.name, "event", f"{reason} on {self._quoted(what)}; reconnecting")
        try:
            self._reconnect()
        except (*self.link_errors, InstrumentConnectionError, ProfileMismatch):
            raise self._timeout(what, exc) from None
        try:
            self._after_reconnect(what)
        except self.link_errors:
            raise self._timeout(what, exc) from None

    def _reconnect(self) -> None:
        self.reconnects += 1
        self.close()
        self._connect()

    def _timeout(self, what: str, exc: BaseException) -> InstrumentTimeout:
        return InstrumentTimeout(
            f"{self.name}: no answer to {self._quoted(what)} within {self.timeout_ms} ms "
            f"at {self.resource}, even after reconnecting ({type(exc).__name__})"
        )
