"""The SCPI side of an emulated instrument: a command table built from the same profile the
driver uses, IEEE 488.2 common commands and an error queue, so the emulator answers exactly as
the profile says and refuses what a real device would refuse.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from instruments.errors import InstrumentError
from instruments.profiles import Operation, Profile

#: SCPI error codes used (SCPI 1999 vol. 2, chapter 21).
NO_ERROR = (0, "No error")
UNDEFINED_HEADER = (-113, "Undefined header")
DATA_TYPE_ERROR = (-104, "Data type error")
OUT_OF_RANGE = (-222, "Data out of range")
EXECUTION_ERROR = (-200, "Execution error")
DEVICE_ERROR = (-300, "Device-specific error")
QUEUE_OVERFLOW = (-350, "Queue overflow")
ERROR_QUEUE_SIZE = 16
STANDARD_ERROR_QUERY = "SYST:ERR?"

_FIELD = re.compile(r"(\{value(?::[^}]*)?\})")


class CommandRefused(Exception):
    """A command the device refuses; it queues ``code, message`` as a real device does."""

    def __init__(self, error: tuple[int, str]) -> None:
        super().__init__(error[1])
        self.error = error


@dataclass(frozen=True)
class Command:
    """One entry of a command table: its pattern and what it does with its argument."""

    pattern: re.Pattern[str]
    run: Callable[[str | None], str | None]


def template_pattern(template: str) -> re.Pattern[str]:
    """A profile command template as a case-insensitive pattern with a ``value`` group."""
    parts = []
    for part in _FIELD.split(template.strip().lstrip(":")):
        if _FIELD.fullmatch(part):
            parts.append(r"(?P<value>[^\s;]+)")
        else:
            parts.append(re.escape(part).replace(r"\ ", r"\s+"))
    return re.compile(":?" + "".join(parts), re.IGNORECASE)


def is_query(line: str) -> bool:
    """Whether a program message contains a query (and so expects an answer)."""
    return any(part.strip().split(" ")[0].endswith("?") for part in line.split(";"))


class Endpoint:
    """An SCPI parser over a command table, with ``*IDN?``, ``*RST``, ``*CLS``, ``*OPC?``."""

    def __init__(
        self,
        idn: str,
        commands: list[Command],
        reset: Callable[[], None],
        error_query: str | None = None,
    ) -> None:
        self.idn = idn
        self.errors: deque[tuple[int, str]] = deque()
        self._reset = reset
        common = {
            "*IDN?": lambda _: self.idn,
            "*RST": lambda _: self._reset(),
            "*CLS": lambda _: self.errors.clear(),
            "*OPC?": lambda _: "1",
            "*OPC": lambda _: None,
            "*WAI": lambda _: None,
            "*ESR?": lambda _: "0",
            STANDARD_ERROR_QUERY: lambda _: self.pop_error(),
        }
        if error_query:
            common[error_query] = lambda _: self.pop_error()
        self.commands = [Command(template_pattern(t), run) for t, run in common.items()]
        self.commands += commands

    def handle(self, line: str) -> str | None:
        """Run a program message (units separated by ';'); the joined answers, if any."""
        replies = [r for r in (self._unit(u) for u in line.split(";") if u.strip()) if r]
        return ";".join(replies) if replies else None

    def queue_error(self, error: tuple[int, str]) -> None:
        if len(self.errors) >= ERROR_QUEUE_SIZE:
            self.errors[-1] = QUEUE_OVERFLOW
        else:
            self.errors.append(error)

    def pop_error(self) -> str:
        code, message = self.errors.popleft() if self.errors else NO_ERROR
        return f'{code},"{message}"'

    def _unit(self, text: str) -> str | None:
        text = text.strip()
        for command in self.commands:
            match = command.pattern.fullmatch(text)
            if match:
                try:
                    return command.run(match.groupdict().get("value"))
                except CommandRefused as exc:
                    self.queue_error(exc.error)
                    return None
        self.queue_error(UNDEFINED_HEADER)
        return None


def device_endpoint(profile: Profile, model: object) -> Endpoint:
    """An endpoint serving ``profile``'s operations from the model's same-named methods."""
    commands = []
    for op in profile.ops.values():
        if op.scpi is None:
            raise InstrumentError(f"profile {profile.name!r} is not an SCPI profile")
        method = getattr(model, op.name, None)
        if method is None:
            raise InstrumentError(
                f"the emulated {profile.role} cannot serve {op.name!r} of profile {profile.name!r}"
            )
        commands.append(Command(template_pattern(op.scpi.template), _runner(op, method)))
    commands += [Command(template_pattern(text), lambda _: None) for text in profile.init]
    return Endpoint(profile.idn, commands, model.reset, profile.error_query)  # type: ignore[attr-defined]


def _runner(op: Operation, method: Callable[..., object]) -> Callable[[str | None], str | None]:
    scpi = op.scpi
    assert scpi is not None
    if op.kind == "read":

        def read(_: str | None) -> str:
            value = method()
            if op.quantity == "state":
                return scpi.on if value else scpi.off
            return scpi.reply_format.format(float(value) / op.factor)  # type: ignore[arg-type]

        return read
    if op.kind == "set":

        def set_value(arg: str | None) -> None:
            try:
                device_value = float(arg or "")
            except ValueError:
                raise CommandRefused(DATA_TYPE_ERROR) from None
            if not math.isfinite(device_value):
                raise CommandRefused(DATA_TYPE_ERROR)
            too_low = op.minimum is not None and device_value < op.minimum
            too_high = op.maximum is not None and device_value > op.maximum
            if too_low or too_high:
                raise CommandRefused(OUT_OF_RANGE)
            try:
                method(device_value * op.factor)
            except ValueError:
                raise CommandRefused(EXECUTION_ERROR) from None

        return set_value

    def action(_: str | None) -> None:
        method()

    return action
