"""Raw-socket SCPI transport for the emulator: one loopback listener per instrument, all served
by one selector thread, with faults on demand (drop, late answer, garbage, queued error).

Lines end with "\\n" as on LAN instruments' port 5025. Accepted sockets get TCP_NODELAY unless
``nodelay=False`` (the naive baseline of the latency benchmark).
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from instruments.emulator.endpoint import DEVICE_ERROR, EXECUTION_ERROR, is_query
from instruments.errors import InstrumentError

FAULTS = ("drop", "late", "garbage", "error")
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
    answer the next query with undecodable bytes. error: refuse the next
    command (not a query), queueing an SCPI execution error.
    """

    kind: str
    count: int = 1
    delay_s: float = 1.0


class _Conn:
    def __init__(self, key: str, sock: socket.socket) -> None:
        self.key, self.sock, self.buffer, self.open = key, sock, b"", True
        #: Answers leave in order, as from a real device: none before a late one.
        self.hold_until = 0.0


Handler = Callable[[str, str], str | None]
ErrorQueuer = Callable[[str, tuple[int, str]], None]


class Server:
    """Listeners keyed by device name; ``handler(key, line)`` answers or returns None."""

    def __init__(self, handler: Handler, queue_error: ErrorQueuer, nodelay: bool = True) -> None:
        self._handler = handler
        self._queue_error = queue_error
        self._nodelay = nodelay
        self._selector = selectors.DefaultSelector()
        self._faults: dict[str, deque[Fault]] = {}
        self._late: list[tuple[float, int, _Conn, bytes]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None

    def listen(self, key: str, host: str, port: int) -> int:
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
        self._selector.register(sock, selectors.EVENT_READ, _Conn(key, sock))

    def _receive(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        conn.buffer += data
        while conn.open and b"\n" in conn.buffer:
            raw, conn.buffer = conn.buffer.split(b"\n", 1)
            line = raw.decode("ascii", errors="replace").strip()
            if line:
                self._message(conn, line)

    def _message(self, conn: _Conn, line: str) -> None:
        query = is_query(line)
        fault = self._take_fault(conn.key, query)
        kind = fault.kind if fault else None
        if kind == "drop":
            self._close(conn)
            return
        if kind == "error":
            self._queue_error(conn.key, (EXECUTION_ERROR[0], "Execution error; injected fault"))
            return
        try:
            reply = self._handler(conn.key, line)
        except Exception:  # noqa: BLE001 - a model bug must not end the serving thread
            self._queue_error(conn.key, DEVICE_ERROR)
            return
        if reply is None:
            return
        data = GARBAGE if kind == "garbage" else reply.encode() + b"\n"
        now = time.monotonic()
        due = max(conn.hold_until, now + fault.delay_s if kind == "late" else now)
        if due <= now:
            self._send(conn, data)
            return
        conn.hold_until = due
        heapq.heappush(self._late, (due, next(self._seq), conn, data))

    def _take_fault(self, key: str, query: bool) -> Fault | None:
        """The first armed fault that applies to this message, counted down."""
        with self._lock:
            for fault in self._faults[key]:
                applies = fault.kind == "drop" or (fault.kind == "error") != query
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
