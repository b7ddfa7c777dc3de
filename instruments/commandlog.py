"""The instrument command log: every command, reply and safety event with a monotonic time.

One JSON object per line: ``{"t": <time.monotonic()>, "device": ..., "kind": ..., "text": ...}``
with kind one of ``write``, ``query``, ``reply``, ``event``; a safety event carries its values as
further keys (a clamp: ``setpoint``, ``requested``, ``sent``; a trip: ``trip``). Lines are
flushed as written so the log survives a crash; the caller chooses the file (the run folder
keeps it), and a ``listener`` sees every entry as it is logged (it must return quickly).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO

#: Entries kept in memory (newest); the file, when given, keeps everything.
MEMORY_ENTRIES = 100_000


class CommandLog:
    """Append-only, thread-safe JSON-lines log; ``path=None`` keeps entries in memory only."""

    def __init__(self, path: Path | str | None = None, keep: bool = False,
                 listener: Callable[[dict[str, object]], None] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.listener = listener
        self._file: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", buffering=1)
        self.entries: deque[dict[str, object]] | None = (
            deque(maxlen=MEMORY_ENTRIES) if keep or path is None else None
        )
        # reentrant: the bench's signal handler logs its trip from whatever the main thread
        # was doing, which may be this very method
        self._lock = threading.RLock()

    def record(self, device: str, kind: str, text: str, **details: object) -> None:
        """Log one entry stamped with ``time.monotonic()``; ``details``: an event's values."""
        entry = {"t": time.monotonic(), "device": device, "kind": kind, "text": text, **details}
        with self._lock:
            if self.entries is not None:
                self.entries.append(entry)
            if self._file is not None:
                self._file.write(json.dumps(entry) + "\n")
        if self.listener is not None:
            self.listener(entry)

    def close(self) -> None:
        """Close the file; later entries stay in memory only if kept."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
