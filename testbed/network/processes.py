"""Background processes of a local network: started detached, found again by pid, stopped.

A process is started in its own session (so a terminal's Ctrl-C reaches only what the user
runs), with its output in a log file and, if asked, a lower CPU priority (a higher niceness). Whether a recorded pid is still ours is judged from
/proc: alive, not a zombie, and running the command line we started (pids are reused).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypeGuard


def spawn(argv: Sequence[str], log: Path, env: dict[str, str] | None = None,
          niceness: int = 0) -> int:
    """Start ``argv`` in the background, its output appended to ``log``, ``niceness`` above
    this process's; its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        child = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 env={**os.environ, **(env or {})})
    if niceness:
        os.setpriority(os.PRIO_PROCESS, child.pid,
                       os.getpriority(os.PRIO_PROCESS, 0) + niceness)
    _children[child.pid] = child
    return child.pid


_children: dict[int, subprocess.Popen[bytes]] = {}
"""The processes this one started, kept so that only `alive` reaps them and learns how they
ended (an abandoned Popen is reaped by the next Popen, its exit status lost)."""


def alive(pid: int | None, marker: str = "") -> TypeGuard[int]:
    """Whether ``pid`` runs, is not a zombie, and has ``marker`` in its command line. Our own
    child runs until its Popen has seen it exit (its pid cannot be reused before that): /proc
    is not asked, because a child that Popen has just started may still be inside exec, its
    command line empty (a server taken for dead on a busy machine: "exited: nothing in its
    log")."""
    if not pid:
        return False
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X") and marker in cmdline


def ended(pid: int | None) -> str:
    """How our child ``pid`` ended ("exited with code 1", "was killed by SIGKILL"), '' if
    unknown (it is not our child, or it runs)."""
    child = None if pid is None else _children.get(pid)
    code = None if child is None else child.poll()
    if code is None:
        return ""
    return f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"


def tail(log: Path, lines: int = 3) -> str:
    """The last ``lines`` non-blank lines of ``log``, on one line (what a process said before
    it exited); '' if there is none."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return " | ".join([line.strip() for line in text.splitlines() if line.strip()][-lines:])


def stop(pids: Sequence[tuple[int | None, str]], timeout_s: float = 10.0) -> None:
    """SIGTERM each (pid, marker) still ours, then SIGKILL those alive after ``timeout_s``."""
    mine = [(pid, marker) for pid, marker in pids if alive(pid, marker)]
    for pid, _ in mine:
        _signal(pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive(p, m) for p, m in mine):
        time.sleep(0.05)
    for pid, marker in mine:
        if alive(pid, marker):
            _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive(p, m) for p, m in mine):
        time.sleep(0.05)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
