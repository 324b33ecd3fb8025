"""A shared process pool for work that holds the GIL: header parsing and compressed decoding.

pydicom parses headers in pure Python and most codecs hold the GIL, so threads do not scale;
processes do. The pool uses the forkserver start method (safe from a GUI's worker thread, unlike
fork) with pydicom preloaded, is created on first use, and can be warmed up at app start so the
first study does not pay for the workers' imports.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_PRELOAD = ["viewer.io.headers", "viewer.io.decode", "pydicom.pixels"]


def worker_count() -> int:
    """Processes in the pool: one per core, at most 8; 0 means do the work in-process."""
    override = os.environ.get("LUMEN_WORKERS")
    if override is not None:
        return max(0, int(override))
    n = os.cpu_count() or 1
    return 0 if n < 2 else min(8, n)


def _main_is_importable() -> bool:
    """Workers re-import ``__main__`` by path; code typed at a prompt or piped in has none."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file is None or os.path.isfile(main_file)


def get_pool() -> ProcessPoolExecutor | None:
    """The shared pool, created on first call; None where work must stay in-process."""
    global _pool
    if worker_count() == 0 or not _main_is_importable():
        return None
    with _lock:
        if _pool is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(_PRELOAD)
            _pool = ProcessPoolExecutor(max_workers=worker_count(), mp_context=ctx)
        return _pool


def _ready(_: int) -> int:
    return os.getpid()


def warm_up() -> None:
    """Start every worker now (imports included), e.g. while the app shows its window."""
    pool = get_pool()
    if pool is not None:
        list(pool.map(_ready, range(worker_count() * 2)))


def shutdown() -> None:
    """Stop the workers (tests, app exit)."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(cancel_futures=True)
            _pool = None
