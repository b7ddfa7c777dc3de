"""The live dashboard: the run's page served while the run goes, updated by server-sent events.

`Dashboard` subscribes to a run's events and to its recorder's rows; each is put in an inbox
and the run moves on (a subscriber runs in the run's thread and must return at once). A server
thread (Starlette on uvicorn, its own asyncio loop) folds the inbox into the live model every
`TICK_S` and pushes what changed to every open page; a page that cannot keep up (its queue of
pushes full) is dropped and reconnects to a fresh snapshot, so a slow or closed browser never
slows the run.

    GET /               the page (the report's page, live)
    GET /assets/NAME    its scripts: Plotly's bundled plotly.min.js, dashboard.js, .css
    GET /api/state      the latest values as JSON, for scripts
    GET /api/stream     server-sent events: a snapshot, then deltas

It listens on 127.0.0.1 unless a host is given; then every request but the assets needs the
token (``?token=`` or ``Authorization: Bearer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import queue
import secrets
import socket
import threading
from typing import Any

from testbed.dashboard.state import LiveState, encode
from testbed.errors import InputError
from testbed.events import Event
from testbed.records.columns import CsvFile
from testbed.report.page import asset_files, html_page, schema

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8050
TICK_S = 0.25  # the inbox is folded and changes pushed this often
CLIENT_BACKLOG = 64  # pushes queued for one page before it is dropped
KEEPALIVE_S = 15.0
GRACE_S = 1.0  # after the run, the last changes reach open pages before the server stops


class Dashboard:
    """The live page of one run, served from a thread; `close` stops it."""

    def __init__(self, port: int = DEFAULT_PORT, host: str | None = None,
                 token: str | None = None) -> None:
        self.host = host or LOOPBACK
        self.token = token or (secrets.token_urlsafe(16) if host is not None else None)
        self.state = LiveState()
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._clients: set[asyncio.Queue] = set()
        self._socket = _listen(self.host, port)
        self.port = self._socket.getsockname()[1]
        self._server: Any = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dashboard", daemon=True)
        self._thread.start()
        if not self._started.wait(30):
            raise InputError("dashboard: the server did not start within 30 s")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = f"?token={self.token}" if self.token else ""
        return f"http://{host}:{self.port}/{query}"

    # -- the run's side: put and move on ------------------------------------------------------

    def __call__(self, event: Event) -> None:
        self.inbox.put(event)

    def rows(self, spec: CsvFile, rows: list[dict[str, Any]], replace: bool) -> None:
        self.inbox.put(("rows", spec.name, rows, replace))

    def attach(self, run: Any) -> None:
        """Watch a run (`testbed.run.compose.Run`): its events and its recorder's rows."""
        run.events.subscribe(self)
        run.recorder.listeners.append(self.rows)

    def finished(self, summary: dict[str, Any]) -> None:
        self.inbox.put(("summary", summary))

    def close(self) -> None:
        """Push the last changes, give the pages a moment to draw them, stop the server."""
        if self._server is None:
            return
        self._started.clear()
        self._thread.join(timeout=GRACE_S + 10)
        self._server = None

    # -- the server thread --------------------------------------------------------------------

    def _serve(self) -> None:
        import uvicorn

        config = uvicorn.Config(self._app(), log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # the run owns the signals
        asyncio.run(self._main())

    async def _main(self) -> None:
        ticker = asyncio.create_task(self._tick())
        serving = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            await asyncio.sleep(0.01)
        self._started.set()
        while self._started.is_set():  # cleared by close()
            await asyncio.sleep(0.05)
        self._fold()
        await asyncio.sleep(GRACE_S)
        for client in self._clients:  # the pages stop reconnecting, then their streams end
            with contextlib.suppress(asyncio.QueueFull):
                client.put_nowait(_event("end", "{}"))
            with contextlib.suppress(asyncio.QueueFull):
                client.put_nowait(None)
        ticker.cancel()
        self._server.should_exit = True
        await serving

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self._fold()

    def _fold(self) -> None:
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, tuple) and item[0] == "summary":
                self.state.finish(item[1])
            else:
                self.state.apply(item)
        delta = self.state.delta()
        if delta is None:
            return
        message = _event("delta", encode(delta))
        for client in list(self._clients):
            try:
                client.put_nowait(message)
            except asyncio.QueueFull:  # too slow: dropped; it reconnects to a snapshot
                self._clients.discard(client)
                with contextlib.suppress(asyncio.QueueEmpty):
                    client.get_nowait()
                client.put_nowait(None)

    def _app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.responses import (
            FileResponse,
            HTMLResponse,
            JSONResponse,
            PlainTextResponse,
            StreamingResponse,
        )
        from starlette.routing import Route

        assets = asset_files()

        def allowed(request: Any) -> bool:
            if self.token is None:
                return True
            given = request.query_params.get("token") or request.headers.get(
                "authorization", "").removeprefix("Bearer ").strip()
            return secrets.compare_digest(given.encode(), self.token.encode())

        def refused() -> PlainTextResponse:
            return PlainTextResponse("a token is required: open the URL the run printed\n", 401)

        async def page(request: Any) -> Any:
            if not allowed(request):
                return refused()
            query = f"?token={self.token}" if self.token else ""
            model = {"mode": "live", "stream": f"api/stream{query}", "schema": schema(),
                     "run": {"scenario": self.state.run.get("scenario")}}
            return HTMLResponse(html_page(model, "assets"))

        async def asset(request: Any) -> Any:
            path = assets.get(request.path_params["name"])
            if path is None:
                return PlainTextResponse("not found\n", 404)
            return FileResponse(path)

        async def state(request: Any) -> Any:
            if not allowed(request):
                return refused()
            self._fold()  # up to the moment asked
            return JSONResponse(self.state.latest_values())

        async def stream(request: Any) -> Any:
            if not allowed(request):
                return refused()
            client: asyncio.Queue = asyncio.Queue(CLIENT_BACKLOG)
            self._fold()  # the open pages get what changed; the new one, all of it
            snapshot = _event("snapshot", encode(self.state.snapshot()))
            self._clients.add(client)

            async def events() -> Any:
                try:
                    yield snapshot
                    while True:
                        try:
                            message = await asyncio.wait_for(client.get(), KEEPALIVE_S)
                        except TimeoutError:
                            yield ": keepalive\n\n"
                            continue
                        if message is None:
                            return
                        yield message
                finally:
                    self._clients.discard(client)

            return StreamingResponse(events(), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})

        return Starlette(routes=[
            Route("/", page), Route("/assets/{name}", asset), Route("/api/state", state),
            Route("/api/stream", stream),
        ])


def _event(name: str, data: str) -> str:
    return f"event: {name}\ndata: {data}\n\n"


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a taken port is a clear error before the run."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET  # a host name
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"dashboard: cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(64)
    sock.set_inheritable(False)
    return sock
