"""The emulator's transport: one loopback listener per instrument, all served by one selector
thread, with faults on demand (drop, late answer, garbage, refusal), over either protocol:

* SCPI on a raw socket: lines end with "\\n" as on LAN instruments' port 5025;
* Modbus TCP: MBAP frames (transaction, protocol 0, length, unit id, PDU), as SunSpec devices
  serve on port 502.

Accepted sockets get TCP_NODELAY unless ``nodelay=False`` (the naive baseline of the latency
benchmark).
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from instruments.emulator.endpoint import DEVICE_ERROR, EXECUTION_ERROR, is_query
from instruments.errors import InstrumentError

FAULTS = ("drop", "late", "garbage", "error")
#: Modbus exception an "error" fault answers with unless told otherwise: SERVER DEVICE FAILURE.
DEFAULT_MODBUS_EXCEPTION = 4
#: MBAP header: transaction id, protocol id (0), length (unit id + PDU), unit id.
MBAP = struct.Struct(">HHHB")
MAX_PDU = 253

Handler = Callable[[str, str], str | None]
ErrorQueuer = Callable[[str, tuple[int, str]], None]
#: What a garbage answer looks like: bytes no ASCII decoder accepts, then a terminator.
GARBAGE = b"\xff\xfe#?!\x07garbage\n"
#: Longest wait of the selector loop, so a stop request is never missed for long.
POLL_S = 0.2
#: Send timeout for one answer; a client that reads nothing for this long is dropped.
SEND_TIMEOUT_S = 1.0


@dataclass
class Fault:
    """A fault armed on one listener for its next ``count`` matching messages.

    drop: close the connection on the next message. late: answer the next query after
    ``delay_s`` (later answers on that link wait behind it, as on a busy device). garbage:
    answer the next query with undecodable bytes. error: refuse the next command (not an
    SCPI query), queueing an SCPI execution error, or answering Modbus exception ``code``.
    """

    kind: str
    count: int = 1
    delay_s: float = 1.0
    code: int = DEFAULT_MODBUS_EXCEPTION


class Framing(Protocol):
    """How one protocol cuts messages from a stream and answers them."""

    def split(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        """Complete messages at the front of ``buffer``, and the rest."""
        ...

    def expects_reply(self, message: bytes) -> bool: ...

    def refusable(self, message: bytes) -> bool:
        """Whether an "error" fault applies to this message."""
        ...

    def answer(self, message: bytes) -> bytes | None:
        """The reply bytes (None: no reply)."""
        ...

    def refuse(self, message: bytes, fault: Fault) -> bytes | None:
        """The reply to a message refused by an "error" fault."""
        ...


class ScpiFraming:
    """Newline-terminated SCPI program messages; errors go to the device's error queue."""

    def __init__(self, key: str, handler: Handler, queue_error: ErrorQueuer) -> None:
        self.key, self._handler, self._queue_error = key, handler, queue_error

    def split(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        *lines, rest = buffer.split(b"\n")
        return [line for line in lines if line.strip()], rest

    def expects_reply(self, message: bytes) -> bool:
        return is_query(_text(message))

    def refusable(self, message: bytes) -> bool:
        return not self.expects_reply(message)

    def answer(self, message: bytes) -> bytes | None:
        try:
            reply = self._handler(self.key, _text(message))
        except Exception:  # noqa: BLE001 - a model bug must not end the serving thread
            self._queue_error(self.key, DEVICE_ERROR)
            return None
        return None if reply is None else reply.encode() + b"\n"

    def refuse(self, message: bytes, fault: Fault) -> bytes | None:
        self._queue_error(self.key, (EXECUTION_ERROR[0], "Execution error; injected fault"))
        return None


class ModbusFraming:
    """Modbus TCP: MBAP frames around PDUs that ``handler(unit, pdu)`` answers."""

    def __init__(self, handler: Callable[[int, bytes], bytes]) -> None:
        self._handler = handler

    def split(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        frames = []
        while len(buffer) >= MBAP.size:
            _, protocol, length, _ = MBAP.unpack_from(buffer)
            if protocol != 0 or not 2 <= length <= MAX_PDU + 1:
                raise ConnectionError("not a Modbus TCP frame")
            if len(buffer) < 6 + length:
                break
            frames.append(buffer[: 6 + length])
            buffer = buffer[6 + length :]
        return frames, buffer

    def expects_reply(self, message: bytes) -> bool:
        return True

    def refusable(self, message: bytes) -> bool:
        return True

    def answer(self, message: bytes) -> bytes | None:
        tid, _, _, unit = MBAP.unpack_from(message)
        pdu = message[MBAP.size :]
        try:
            reply = self._handler(unit, pdu)
        except Exception:  # noqa: BLE001 - a model bug must not end the serving thread
            reply = bytes(((pdu[:1] or b"\0")[0] | 0x80, DEFAULT_MODBUS_EXCEPTION))
        return MBAP.pack(tid, 0, len(reply) + 1, unit) + reply

    def refuse(self, message: bytes, fault: Fault) -> bytes | None:
        tid, _, _, unit = MBAP.unpack_from(message)
        function = message[MBAP.size] if len(message) > MBAP.size else 0
        return MBAP.pack(tid, 0, 3, unit) + bytes((function | 0x80, fault.code))


def _text(message: bytes) -> str:
    return message.decode("ascii", errors="replace").strip()


class _Conn:
    def __init__(self, key: str, sock: socket.socket, framing: Framing) -> None:
        self.key, self.sock, self.buffer, self.open = key, sock, b"", True
        self.framing = framing
        #: Answers leave in order, as from a real device: none before a late one.
        self.hold_until = 0.0



class Server:
    """Listeners keyed by device name, each speaking its own framing."""

    def __init__(self, nodelay: bool = True) -> None:
        self._nodelay = nodelay
        self._framings: dict[str, Framing] = {}
        self._selector = selectors.DefaultSelector()
        self._faults: dict[str, deque[Fault]] = {}
        self._late: list[tuple[float, int, _Conn, bytes]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None

    def listen(self, key: str, host: str, port: int, framing: Framing) -> int:
        """Open a listener for ``key``; the bound port (an ephemeral one when ``port`` is 0)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise InstrumentError(f"cannot listen on {host}:{port} for {key}: {exc}") from None
        sock.listen(8)
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ, key)
        self._faults[key] = deque()
        self._framings[key] = framing
        return sock.getsockname()[1]

    def inject(self, key: str, fault: Fault) -> None:
        if fault.kind not in FAULTS:
            raise InstrumentError(f"unknown fault {fault.kind!r} (one of {', '.join(FAULTS)})")
        if key not in self._faults:
            raise InstrumentError(f"no emulated device {key!r}")
        with self._lock:
            self._faults[key].append(fault)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="scpi-emulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close every socket."""
        self._stop.set()
        self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()
        self._wake_w.close()

    # -- loop ---------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            timeout = POLL_S
            if self._late:
                timeout = max(0.0, min(timeout, self._late[0][0] - time.monotonic()))
            for key, _ in self._selector.select(timeout):
                if key.data is None:
                    self._wake_r.recv(64)
                elif isinstance(key.data, _Conn):
                    self._receive(key.data)
                else:
                    self._accept(key.fileobj, key.data)  # type: ignore[arg-type]
            self._send_due()

    def _accept(self, listener: socket.socket, key: str) -> None:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:
            return
        if self._nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(SEND_TIMEOUT_S)
        self._selector.register(sock, selectors.EVENT_READ, _Conn(key, sock, self._framings[key]))

    def _receive(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        conn.buffer += data
        try:
            messages, conn.buffer = conn.framing.split(conn.buffer)
        except ConnectionError:  # a stream no device of this kind could parse: hang up
            self._close(conn)
            return
        for message in messages:
            if not conn.open:
                break
            self._message(conn, message)

    def _message(self, conn: _Conn, message: bytes) -> None:
        framing = conn.framing
        fault = self._take_fault(conn.key, framing, message)
        kind = fault.kind if fault else None
        if kind == "drop":
            self._close(conn)
            return
        if kind == "error":
            assert fault is not None
            reply = framing.refuse(message, fault)
        else:
            reply = framing.answer(message)
        if reply is None:
            return
        data = GARBAGE if kind == "garbage" else reply
        now = time.monotonic()
        due = max(conn.hold_until, now + fault.delay_s if kind == "late" else now)
        if due <= now:
            self._send(conn, data)
            return
        conn.hold_until = due
        heapq.heappush(self._late, (due, next(self._seq), conn, data))

    def _take_fault(self, key: str, framing: Framing, message: bytes) -> Fault | None:
        """The first armed fault that applies to this message, counted down."""
        with self._lock:
            for fault in self._faults[key]:
                if fault.kind == "error":
                    applies = framing.refusable(message)
                else:
                    applies = fault.kind == "drop" or framing.expects_reply(message)
                if applies:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults[key].remove(fault)
                    return fault
        return None

    def _send_due(self) -> None:
        now = time.monotonic()
        while self._late and self._late[0][0] <= now:
            _, _, conn, data = heapq.heappop(self._late)
            if conn.open:
                self._send(conn, data)

    def _send(self, conn: _Conn, data: bytes) -> None:
        try:
            conn.sock.sendall(data)
        except OSError:
            self._close(conn)

    def _close(self, conn: _Conn) -> None:
        if conn.open:
            conn.open = False
            self._selector.unregister(conn.sock)
            conn.sock.close()
