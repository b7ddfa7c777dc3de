"""Where the cells run: a Dask `LocalCluster` of worker processes sized to this machine's cores
(one thread each), or the scheduler of a user's cluster (``dask scheduler`` and ``dask worker``
on their hosts). Either way every worker must see the sweep's folder at the same path."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from testbed.errors import InputError
from testbed.sweep.cell import one_line

CONNECT_TIMEOUT_S = 30
"""How long to wait for a user's scheduler to answer, and for its first worker to join."""
ONE_THREAD = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}
"""Each local worker process has one task thread; its libraries get one thread too (read when
they load, so set before the process starts)."""
TOKEN_FILE = ".sweep-token"
LOOPBACK = "127.0.0.1"


def local_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def local_cluster(workers: int | None = None) -> object:
    """A `distributed.LocalCluster` of ``workers`` processes (default: one per core), one
    thread each, everything on loopback (its HTTP endpoints on a free port)."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers or local_cores(), threads_per_worker=1,
                        processes=True, host=LOOPBACK, dashboard_address=f"{LOOPBACK}:0",
                        env=ONE_THREAD, silence_logs=logging.ERROR)


@contextlib.contextmanager
def connect(scheduler: str | None, workers: int | None = None, *,
            timeout_s: float = CONNECT_TIMEOUT_S) -> Iterator[object]:
    """A `distributed.Client`: of the scheduler at ``scheduler`` (waiting ``timeout_s`` for it
    and for a worker), else of a new local cluster of ``workers`` processes (default: one per
    core) on loopback, closed on leaving."""
    from distributed import Client

    if scheduler is None:
        with local_cluster(workers) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout=timeout_s)
    except (OSError, ValueError) as exc:
        raise InputError(f"no Dask scheduler answers at {scheduler}: {one_line(exc)}"
                         ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=timeout_s)
        except TimeoutError:
            raise InputError(f"the Dask scheduler at {scheduler} has no workers (none joined "
                             f"within {timeout_s:g} s): start some with `dask worker "
                             f"{scheduler}`") from None
        yield client


def check_shared_folder(client: object, folder: Path) -> None:
    """Refuse a folder that some worker does not see (a cluster across hosts needs it on a
    filesystem they share): each worker reads a token written here."""
    token = secrets.token_hex(8)
    path = folder.resolve() / TOKEN_FILE
    path.write_text(token)
    try:
        seen = client.run(_read, str(path))  # type: ignore[attr-defined]
    finally:
        path.unlink(missing_ok=True)
    blind = sorted(worker for worker, text in seen.items() if text != token)
    if blind:
        raise InputError(f"{len(blind)} worker(s) do not see {folder.resolve()} (e.g. "
                         f"{blind[0]}): put --out on a filesystem every worker shares")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None
