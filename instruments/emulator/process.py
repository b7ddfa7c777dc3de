"""An emulated bench in a process of its own, as a bench's instruments are: the same devices
and protocols as `Emulator`, served by a child process, so their physics and sockets never
wait for the interpreter lock of the process that drives them (nor it for theirs).

The parent moves the child's clock and arms its faults over the control endpoint (``SIM:TIME``,
``SIM:FAULT``, as a user of ``testbed emulate`` does). The child lives as long as its parent
holds its standard input open: a parent that ends, however it ends, ends it. Terminal signals
do not reach it (its own session): a Ctrl-C stops the parent, which then puts the devices in
their safe state through the child before it closes it.
"""

from __future__ import annotations

import json
import pickle
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Self

from instruments.emulator import CONTROL, Emulator, Served
from instruments.emulator.config import load_config
from instruments.errors import InstrumentError

READY_TIMEOUT_S = 60.0
"""From the start to the child's listening: its imports and the SimBench sun, on a cold, busy
machine (about a second on a quiet one)."""
REPLY_TIMEOUT_S = 5.0
"""For the control endpoint's answer: it answers at once unless its physics has hours to
catch up."""
STOP_TIMEOUT_S = 5.0
"""For the child to close its sockets and exit once its input is closed; then it is killed."""


class EmulatorProcess(Served):
    """An `Emulator` served by a child process; start/stop it or use it as a context manager.

    `start` returns once the child is started; the first use of its ports waits (bounded) for
    it to listen, so several benches start side by side."""

    def __init__(self, config: Path | str | dict[str, Any] | None = None,
                 host: str = "127.0.0.1", clock: str | None = None) -> None:
        self.config = load_config(config)
        self.host = host
        self._request = pickle.dumps({"config": config, "host": host, "clock": clock})
        self._manual = (clock or self.config.clock) == "manual"
        self._t_s = 0.0  # a manual clock's time, as this proxy last moved it
        self._ports: dict[str, int] | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (the child's, until stop)
        self._control: socket.socket | None = None
        self._replies = b""
        self._lock = threading.Lock()  # one request at a time on the control link

    def start(self) -> Self:
        self._child = subprocess.Popen(
            [sys.executable, "-m", "instruments.emulator.process"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, start_new_session=True)
        assert self._child.stdin is not None
        self._child.stdin.write(self._request)
        self._child.stdin.flush()  # kept open: the child's lifeline
        return self

    def stop(self) -> None:
        """Close the control link and the child's input; the child exits (killed if not)."""
        if self._control is not None:
            self._control.close()
            self._control = None
        child, self._child = self._child, None
        if child is not None:
            try:
                if child.stdin is not None:
                    child.stdin.close()
                child.wait(STOP_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired):
                child.kill()
                child.wait()
            finally:
                if child.stdout is not None:
                    child.stdout.close()
        self._stderr.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def ports(self) -> dict[str, int]:  # type: ignore[override]
        if self._ports is None:
            self._ports = self._wait_ready()
        return self._ports

    # -- simulated time and faults, over the control endpoint ----------------------------

    def now(self) -> float:
        """Simulated seconds since start. A manual clock's is where this proxy moved it, read
        without a round trip: it is a ramp's clock, read by the safe state, which a signal
        handler may run in the middle of an exchange on the control link."""
        if self._manual:
            return self._t_s
        return float(self._ask("SIM:TIME?"))

    def set_time(self, t: float) -> None:
        """Jump simulated time forward to ``t`` seconds; returns once the physics is there."""
        self._refused_unless(f"SIM:TIME {t!r}")
        self._t_s = t

    def advance(self, dt: float) -> None:
        """Move simulated time forward by ``dt`` seconds (manual clock)."""
        self._refused_unless(f"SIM:ADV {dt!r}")
        self._t_s += dt

    def inject(self, device: str, kind: str, count: int = 1, delay_s: float = 1.0,
               code: int = 4) -> None:
        """Arm a fault for ``device`` (see `Emulator.inject`)."""
        self._refused_unless(f"SIM:FAULT {device},{kind},{count},{delay_s!r},{code}")

    def _refused_unless(self, command: str) -> None:
        """Send ``command``; an error it queued is raised (a set command has no answer)."""
        code, _, message = self._ask(f"{command}\nSYST:ERR?").partition(",")
        if code.strip() != "0":
            raise InstrumentError(f"emulator refused {command!r}: {message.strip()}")

    def _ask(self, text: str) -> str:
        """Send ``text`` (lines, the last a query) on the control link; the query's answer.
        An exchange cut short (an error, an interrupt) drops the link: the next one opens a
        new link rather than read the old exchange's answer."""
        if not self._lock.acquire(timeout=REPLY_TIMEOUT_S):
            raise InstrumentError("emulator's control link busy (an exchange did not end)")
        try:
            if self._control is None:
                self._control = socket.create_connection(
                    (self.host, self.ports[CONTROL]), timeout=REPLY_TIMEOUT_S)
                self._control.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._control.sendall(text.encode() + b"\n")
            while b"\n" not in self._replies:
                chunk = self._control.recv(4096)
                if not chunk:
                    raise InstrumentError(f"emulator closed its control link: "
                                          f"{self._child_said()}")
                self._replies += chunk
            line, _, self._replies = self._replies.partition(b"\n")
            return line.decode()
        except BaseException as exc:
            if self._control is not None:
                self._control.close()
            self._control, self._replies = None, b""
            if isinstance(exc, OSError):
                raise InstrumentError(f"emulator's control link: {exc}") from None
            raise
        finally:
            self._lock.release()

    # -- start-up ----------------------------------------------------------------------------

    def _wait_ready(self) -> dict[str, int]:
        """The child's bound ports, from the one line it prints when it listens."""
        if self._child is None or self._child.stdout is None:
            raise InstrumentError("emulator process not started")
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise InstrumentError(f"emulator process not listening after "
                                      f"{READY_TIMEOUT_S:.0f} s")
            readable, _, _ = select.select([self._child.stdout], [], [], min(left, 0.5))
            if readable:
                line = self._child.stdout.readline()
                if not line:
                    said = self._child_said()
                    self.stop()
                    raise InstrumentError(f"emulator process ended at start: {said}")
                return {name: int(port) for name, port in json.loads(line).items()}

    def _child_said(self) -> str:
        """The last line the child wrote to its standard error, or that it wrote none."""
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "nothing on its standard error"


def _serve() -> int:
    """The child: serve the bench its parent sent until the parent closes our input."""
    request = pickle.load(sys.stdin.buffer)
    with Emulator(request["config"], host=request["host"], clock=request["clock"]) as emu:
        print(json.dumps(emu.ports), flush=True)
        sys.stdin.buffer.read()  # returns when the parent closes it, or dies
    return 0


if __name__ == "__main__":
    raise SystemExit(_serve())
