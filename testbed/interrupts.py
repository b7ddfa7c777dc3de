"""How Ctrl-C (and SIGTERM, which the CLI raises as Ctrl-C) reaches a run.

Python delivers a signal to the main thread as a KeyboardInterrupt at the next bytecode, and a
library in the middle of C code can turn it into an error of its own: pandas' CSV reader
surfaces it as a parse error, which SimBench catches and reads the file again, and the
interrupt is lost. Work like that runs in a worker thread (`interruptible`), where no signal
lands, while the main thread waits in short steps and so takes the interrupt at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def interruptible(work: Callable[..., T], *args: object) -> T:
    """``work(*args)``, with Ctrl-C honoured within 50 ms whatever ``work`` does with one (the
    worker is abandoned; it must only compute or read)."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.05)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def signal_name(exc: BaseException) -> str:
    """The signal behind a KeyboardInterrupt (the CLI raises SIGTERM as one, named)."""
    return str(exc) or "SIGINT"
