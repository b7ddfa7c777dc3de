"""The instrument command log: every command, reply and safety event with a monotonic time.

One JSON object per line: ``{"t": <time.monotonic()>, "device": ..., "kind": ..., "text": ...}``
with kind one of ``write``, ``query``, ``reply``, ``event``. Lines are flushed as written so the
log survives a crash; the caller chooses the file (the run folder keeps it).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO

#: Entries kept in memory (newest); the file, when given, keeps everything.
MEMORY_ENTRIES = 100_000


class CommandLog:
    """Append-only, thread-safe JSON-lines log; ``path=None`` keeps entries in memory only."""

    def __init__(self, path: Path | str | None = None, keep: bool = False) -> None:
        self.path = None if path is None else Path(path)
        self._file: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", buffering=1)
        self.entries: deque[dict[str, object]] | None = (
            deque(maxlen=MEMORY_ENTRIES) if keep or path is None else None
        )
        self._lock = threading.Lock()

    def record(self, device: str, kind: str, text: str) -> None:
        """Log one entry stamped with ``time.monotonic()``."""
        entry = {"t": time.monotonic(), "device": device, "kind": kind, "text": text}
        with self._lock:
            if self.entries is not None:
                self.entries.append(entry)
            if self._file is not None:
                self._file.write(json.dumps(entry) + "\n")

    def close(self) -> None:
        """Close the file; later entries stay in memory only if kept."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
