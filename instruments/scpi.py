"""The generic SCPI driver: runs a profile's operations over PyVISA, robustly and logged.

Every operation is one exchange: a command (followed by the profile's error query, so an SCPI
error raises naming the command) or a query (parsed as its profile says). A timeout or broken
connection closes the session, opens a fresh one (which also discards any late answer), asks the
error queue whether the device refused the command, and retries the exchange once.

Latency: pyvisa-py's raw-socket session leaves Nagle's algorithm on, so a small write followed
by a query waits for the peer's delayed ACK (~40 ms on Linux). The driver turns TCP_NODELAY on,
through VI_ATTR_TCPIP_NODELAY when the backend supports it, else on the session's socket.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket

import pyvisa
from pyvisa import constants

from instruments.commandlog import CommandLog
from instruments.errors import (
    InstrumentConnectionError,
    InstrumentReplyError,
    ProfileError,
    RangeError,
    ScpiError,
)
from instruments.identity import DeviceIdentity, from_idn
from instruments.link import ReconnectingLink
from instruments.profiles import Operation, Profile, ScpiCommand

#: SCPI's "not a number" reply (IEEE 488.2 / SCPI 1999 7.2.1.5).
SCPI_NAN = 9.91e37
#: Error queue reads when draining after an error (a device queue holds a few dozen at most).
MAX_QUEUED_ERRORS = 32


class ScpiDriver(ReconnectingLink):
    """One instrument behind its profile. Values cross the API in kW, kvar, V, A, Hz, kWh."""

    link_errors = (pyvisa.errors.VisaIOError, OSError)

    def __init__(
        self,
        name: str,
        resource: str,
        profile: Profile,
        log: CommandLog | None = None,
        resource_manager: pyvisa.ResourceManager | None = None,
        timeout_ms: int | None = None,
    ) -> None:
        super().__init__(name, resource, profile, log, timeout_ms)
        self._rm = (
            resource_manager if resource_manager is not None else pyvisa.ResourceManager("@py")
        )
        self._inst: pyvisa.resources.MessageBasedResource | None = None
        self._set_up_command = ""  # the profile's set-up command being sent
        self._connect()

    # -- operations -----------------------------------------------------------------------

    @property
    def role(self) -> str:
        return self.profile.role

    def supports(self, op_name: str) -> bool:
        """Whether the profile has this operation."""
        return op_name in self.profile.ops

    def device_range(self, op_name: str) -> tuple[float | None, float | None]:
        """The setpoint range the device accepts, in API units (None: unbounded)."""
        op = self.profile.op(op_name)
        bounds = [None if b is None else b * op.factor for b in (op.minimum, op.maximum)]
        return (min(bounds), max(bounds)) if None not in bounds else (bounds[0], bounds[1])

    def wire_value(self, op_name: str, value: float) -> float:
        """``value`` (API units) as it goes on the wire, after the command's number format."""
        op = self._op(op_name, "set")
        return self._scpi(op).quantize(value / op.factor) * op.factor

    def act(self, op_name: str) -> None:
        """Run an operation without a value (enable, reset_integration, ...)."""
        self._command(self._scpi(self._op(op_name, "action")).format())

    def set(self, op_name: str, value: float) -> None:
        """Run a setpoint operation with ``value`` in API units; refuse values out of range."""
        op = self._op(op_name, "set")
        device_value = value / op.factor
        if not math.isfinite(device_value) or not _in_range(op, device_value):
            raise RangeError(
                f"{self.name}: {op_name} {value:g} is outside the device range "
                f"[{_fmt(op.minimum, op.factor)}, {_fmt(op.maximum, op.factor)}]; nothing sent"
            )
        self._command(self._scpi(op).format(device_value))

    def read(self, op_name: str) -> float | bool:
        """Run a query operation; a float in API units, or a bool for state."""
        op = self._op(op_name, "read")
        command = self._scpi(op).template
        reply = self._exchange(command, lambda: self._query(command))
        return self.parse(op, reply)

    def idn(self) -> str:
        """The ``*IDN?`` reply."""
        return self._exchange("*IDN?", lambda: self._query("*IDN?"))

    def identity(self) -> DeviceIdentity:
        """Manufacturer, model, serial and firmware from ``*IDN?``."""
        return from_idn(self.idn(), self.name, self.role, self.resource, self.profile.name)

    def parse(self, op: Operation, reply: str) -> float | bool:
        """A reply as its profile says: on/off tokens for state, else an SCPI number."""
        text = reply.strip()
        scpi = self._scpi(op)
        if op.quantity == "state":
            token = text.upper()
            if token in (scpi.on.upper(), "1", "ON"):
                return True
            if token in (scpi.off.upper(), "0", "OFF"):
                return False
            raise InstrumentReplyError(
                f"{self.name}: garbage reply {text!r} to {scpi.template!r}"
            )
        try:
            value = float(text)
        except ValueError:
            raise InstrumentReplyError(
                f"{self.name}: garbage reply {text!r} to {scpi.template!r}"
            ) from None
        if not math.isfinite(value) or abs(value) >= SCPI_NAN:
            raise InstrumentReplyError(
                f"{self.name}: no valid data ({text!r}) for {scpi.template!r}"
            )
        return value * op.factor

    def _scpi(self, op: Operation) -> ScpiCommand:
        if op.scpi is None:
            raise ProfileError(f"{self.name}: profile {self.profile.name!r} is not an SCPI profile")
        return op.scpi

    def _op(self, op_name: str, kind: str) -> Operation:
        op = self.profile.op(op_name)
        if op.kind != kind:
            raise ProfileError(f"{self.name}: {op_name} is a {op.kind} operation, not a {kind}")
        return op

    def close(self) -> None:
        """Close the VISA session."""
        if self._inst is not None:
            try:
                self._inst.close()
            except self.link_errors:
                pass
            self._inst = None

    # -- exchanges ------------------------------------------------------------------------

    def _command(self, text: str) -> None:
        self._exchange(text, lambda: self._write_checked(text))

    def _write_checked(self, text: str) -> None:
        self._write(text)
        self._raise_queued_error(text)

    def _write(self, text: str) -> None:
        self.log.record(self.name, "write", text)
        self._session().write(text)

    def _query(self, text: str) -> str:
        self.log.record(self.name, "query", text)
        try:
            reply = self._session().query(text)
        except UnicodeDecodeError:
            self.log.record(self.name, "reply", "<undecodable bytes>")
            raise InstrumentReplyError(
                f"{self.name}: garbage (undecodable) reply to {text!r}"
            ) from None
        self.log.record(self.name, "reply", reply)
        return reply

    def _before_exchange(self) -> None:
        self._drop_stale_link()

    def _after_reconnect(self, what: str) -> None:
        self._raise_queued_error(what)  # why the device did not answer, if it knows

    def _after_failed_retry(self, what: str, exc: BaseException) -> None:
        self._recover(what, exc)  # a fresh link for the next exchange, and the device's error

    def _is_timeout(self, exc: BaseException) -> bool:
        return (
            isinstance(exc, pyvisa.errors.VisaIOError)
            and exc.error_code == constants.StatusCode.error_timeout
        )

    def _quoted(self, what: str) -> str:
        return repr(what)

    def _raise_queued_error(self, command: str) -> None:
        query = self.profile.error_query
        if query is None:
            return
        errors = []
        for _ in range(MAX_QUEUED_ERRORS):
            reply = self._query(query)
            if _error_code(reply, self.name, query) == 0:
                break
            errors.append(reply.strip())
        if errors:
            raise ScpiError(f"{self.name}: {command!r} failed: {'; '.join(errors)}")

    # -- connection -----------------------------------------------------------------------

    def _session(self) -> pyvisa.resources.MessageBasedResource:
        if self._inst is None:
            self._connect()
        assert self._inst is not None
        return self._inst

    def _open(self) -> None:
        try:
            inst = self._rm.open_resource(
                self.resource,
                read_termination=self.profile.read_termination,
                write_termination=self.profile.write_termination,
                timeout=self.timeout_ms,
                open_timeout=self.timeout_ms,
            )
        except Exception as exc:  # noqa: BLE001 - backends raise assorted types on open
            raise InstrumentConnectionError(
                f"{self.name}: cannot open {self.resource}: {exc}"
            ) from None
        sock = _socket_of(inst)
        if sock is not None:
            failure = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if failure:
                inst.close()
                raise InstrumentConnectionError(
                    f"{self.name}: cannot connect to {self.resource}: {os.strerror(failure)}"
                )
            set_nodelay(inst)
        self._inst = inst

    def _set_up(self) -> None:
        for text in self.profile.init:
            self._set_up_command = text
            self._write_checked(text)

    def _set_up_unanswered(self, exc: BaseException) -> str:
        return (f"no answer to set-up command {self._set_up_command!r} at {self.resource}; "
                f"is profile {self.profile.name!r} right for this device?")

    def _drop_stale_link(self) -> None:
        """Reconnect when the peer closed the link or left unread bytes (a late answer)."""
        sock = _socket_of(self._session())
        if sock is None:
            return
        try:
            pending = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            pending = b""
        what = "stale bytes on the link" if pending else "link closed by peer"
        self.log.record(self.name, "event", f"{what}; reconnecting")
        self._reconnect()


def set_nodelay(inst: pyvisa.resources.MessageBasedResource) -> bool:
    """Turn off Nagle's algorithm on a TCPIP SOCKET session; False when not a socket."""
    # pyvisa-py 0.8 registers no setter for this attribute (UnknownAttribute): use the socket.
    with contextlib.suppress(Exception):
        inst.set_visa_attribute(constants.ResourceAttribute.tcpip_nodelay, constants.VI_TRUE)
    sock = _socket_of(inst)
    if sock is None:
        return False
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return True


def _socket_of(inst: pyvisa.resources.Resource) -> socket.socket | None:
    """The raw socket behind a pyvisa-py TCPIP SOCKET session, else None."""
    sessions = getattr(inst.visalib, "sessions", None)
    if not isinstance(sessions, dict):
        return None
    sock = getattr(sessions.get(inst.session), "interface", None)
    return sock if isinstance(sock, socket.socket) else None


def _error_code(reply: str, device: str, query: str) -> int:
    head = reply.split(",", 1)[0].strip()
    try:
        return int(head)
    except ValueError:
        raise InstrumentReplyError(
            f"{device}: garbage reply {reply.strip()!r} to {query!r}"
        ) from None


def _in_range(op: Operation, device_value: float) -> bool:
    return (op.minimum is None or device_value >= op.minimum) and (
        op.maximum is None or device_value <= op.maximum
    )


def _fmt(bound: float | None, factor: float) -> str:
    return "-" if bound is None else f"{bound * factor:g}"
