"""Errors from instruments: the CLI prints them as one line, the safety layer acts on them."""

from testbed.errors import TestbedError


class InstrumentError(TestbedError):
    """A device did not answer, answered garbage, or reported an SCPI error."""


class ProfileError(InstrumentError):
    """A profile or bench file is malformed or names something unknown."""


class InstrumentConnectionError(InstrumentError):
    """A device could not be reached or its connection broke and could not be restored."""


class InstrumentTimeout(InstrumentError):
    """A device did not answer within its timeout, even after a reconnect."""


class InstrumentReplyError(InstrumentError):
    """A device answered something its profile does not allow (garbage)."""


class ScpiError(InstrumentError):
    """A device's SCPI error queue reported an error after a command."""


class RangeError(InstrumentError):
    """A value lies outside what the device's profile accepts; nothing was sent."""


class BenchTripped(InstrumentError):
    """The bench was put into its safe state and refuses setpoints until reset."""


class ProfileMismatch(InstrumentError):
    """A device answered, but not as its profile says: the bench names the wrong profile."""
