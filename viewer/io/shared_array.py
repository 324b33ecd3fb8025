"""Arrays that worker processes can write into directly: a mapped file in /dev/shm.

The creator maps the file, workers map it by path and write their slices, then the creator
unlinks it; the mapping lives on, owned by the numpy array, and is freed with it. This avoids
pickling every decoded slice back to the main process and copying it there.
"""

from __future__ import annotations

import mmap
import os
import tempfile

import numpy as np
from numpy.typing import DTypeLike, NDArray

SHM_DIR = "/dev/shm"


def create(shape: tuple[int, ...], dtype: DTypeLike) -> tuple[NDArray[np.generic], str] | None:
    """A zero-filled shared array and the path workers attach to; None if shared memory is short."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if nbytes == 0 or not os.access(SHM_DIR, os.W_OK):
        return None
    fd, path = tempfile.mkstemp(prefix="lumen-", dir=SHM_DIR)
    try:
        os.posix_fallocate(fd, 0, nbytes)  # reserve now: a full tmpfs would SIGBUS on write
        buf = mmap.mmap(fd, nbytes)
    except OSError:
        os.unlink(path)
        return None
    finally:
        os.close(fd)
    return np.frombuffer(buf, dtype=dtype).reshape(shape), path


def attach(path: str, shape: tuple[int, ...], dtype: DTypeLike) -> NDArray[np.generic]:
    """Map an array created by :func:`create` (in a worker process)."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    with open(path, "r+b") as f:
        buf = mmap.mmap(f.fileno(), nbytes)
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


def release(path: str) -> None:
    """Remove the file name once every worker is done; the creator's mapping stays valid."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
