"""Load a series candidate into a :class:`~viewer.core.volume.Volume`, progressively.

Native (uncompressed) pixels are read straight from each file at the pixel-data offset found by the
header scan into one preallocated array, and calibrated there in place: no per-slice arrays, no
second copy. Compressed pixels are decoded file by file in a pool of worker threads (the chosen
decoders release the GIL). The slice a viewer shows first (the middle one) is loaded first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray

from viewer.core.problems import Problem, ProblemCode, Severity
from viewer.core.resample import resample_stack
from viewer.core.volume import InstanceRef, Volume
from viewer.io import decode, shared_array
from viewer.io.headers import Frame
from viewer.io.pool import get_pool
from viewer.io.pixels import (
    Calibration,
    Overflow,
    calibrate_int16_inplace,
    calibrate_into,
    output_dtype,
    raw_dtype,
)
from viewer.io.scan import CancelFn, Cancelled
from viewer.io.series import LoadMode, SeriesCandidate

LoadProgressFn = Callable[[int, int], None]  # (slices done, slices in all)


class LoadError(Exception):
    """The series could not be loaded; carries the problems that say why."""

    def __init__(self, message: str, problems: list[Problem]) -> None:
        super().__init__(message)
        self.problems = problems


def available_memory() -> int:
    """Bytes of memory the system can give now (physical memory if it cannot say)."""
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError):
        return 1 << 40


def default_workers() -> int:
    """Threads used to read and decode: one per core, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def _order(n: int) -> list[int]:
    """The middle slice first (what a viewer shows), then the rest in file-system-friendly order."""
    mid = n // 2
    return [mid, *range(mid), *range(mid + 1, n)]


class _Reader:
    """Fills ``out[k]`` for each acquired frame ``frames[k]``.

    Native frames are read by threads in this process (the reads release the GIL). Compressed
    frames go to the worker processes, which write straight into ``out`` when it is a shared
    array (``shared`` is its path), else are decoded by the threads here.
    """

    def __init__(self, frames: list[Frame], out: NDArray[np.generic],
                 on_progress: LoadProgressFn | None, cancel: CancelFn | None,
                 workers: int | None = None, shared: str | None = None) -> None:
        self.frames, self.out, self.shared = frames, out, shared
        self.on_progress, self.cancel = on_progress, cancel
        self.workers = workers or default_workers()
        self.done = 0

    def run(self) -> None:
        order = _order(len(self.frames))
        self._local([(self.frames[order[0]], order[0])])  # first image as early as possible
        rest = [(self.frames[k], k) for k in order[1:]]
        native = [p for p in rest if p[0].file.pixels.offset is not None]
        coded = decode.tasks([p for p in rest if p[0].file.pixels.offset is None])
        pool = get_pool() if coded and self.shared is not None else None
        remote = [] if pool is None else [
            pool.submit(decode.decode_task, task, str(self.shared), self.out.shape, self.out.dtype.str)
            for task in coded]
        local = [native[i:i + 16] for i in range(0, len(native), 16)] + (coded if pool is None else [])
        try:
            with ThreadPoolExecutor(self.workers) as threads:
                for _ in threads.map(self._local, local):
                    pass
            for task, future in zip(coded if remote else [], remote, strict=True):
                self._check_cancel()
                self._remote_done(task, *future.result())
        finally:
            for future in remote:
                future.cancel()

    def _tick(self, n: int) -> None:
        self.done += n
        if self.on_progress is not None:
            self.on_progress(self.done, len(self.frames))

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel():
            raise Cancelled()

    def _local(self, pairs: list[decode.Pair]) -> None:
        self._check_cancel()
        for frame, k in pairs:
            if frame.file.pixels.offset is not None:
                _read_native(frame, self.out[k])
        decode.decode_pairs([p for p in pairs if p[0].file.pixels.offset is None], self.out)
        self._tick(len(pairs))

    def _remote_done(self, task: list[decode.Pair], bad: int, reason: str, overflow: bool) -> None:
        if overflow:
            raise Overflow()
        if bad >= 0:
            raise decode.FrameError(task[bad][0], reason)
        self._tick(len(task))


def _read_native(frame: Frame, dest: NDArray[np.generic]) -> None:
    px = frame.file.pixels
    assert px.offset is not None
    cal = Calibration.of(frame)
    direct = dest.dtype == np.int16 and px.bits_allocated == 16 and not px.big_endian
    buf = dest if direct else np.empty((px.rows, px.columns), dtype=raw_dtype(px))
    fd = os.open(frame.file.path, os.O_RDONLY)
    try:
        got = os.preadv(fd, [memoryview(buf).cast("B")],  # type: ignore[arg-type]
                        px.offset + frame.index * px.frame_bytes)
    finally:
        os.close(fd)
    if got != px.frame_bytes:
        raise decode.FrameError(frame, "the file changed or was cut short while loading")
    if direct:
        calibrate_int16_inplace(dest, cal)  # type: ignore[arg-type]
    else:
        calibrate_into(dest, buf, cal)


def _stack(frames: list[Frame], on_progress: LoadProgressFn | None, cancel: CancelFn | None,
           workers: int | None) -> NDArray[np.generic]:
    px = frames[0].file.pixels
    shape = (len(frames), px.rows, px.columns)
    parallel = (workers or default_workers()) > 1 and any(f.file.pixels.offset is None for f in frames)
    for dtype in (output_dtype(frames), np.dtype(np.float32)):
        made = shared_array.create(shape, dtype) if parallel and get_pool() is not None else None
        out, shared = made if made is not None else (np.zeros(shape, dtype=dtype), None)
        try:
            _Reader(frames, out, on_progress, cancel, workers, shared).run()
            return np.asarray(out)
        except Overflow:  # rare: values outside int16 after calibration; read again as float32
            continue
        finally:
            if shared is not None:
                shared_array.release(shared)
    raise AssertionError("float32 output cannot overflow")


def load_series(candidate: SeriesCandidate, on_progress: LoadProgressFn | None = None,
                cancel: CancelFn | None = None, workers: int | None = None) -> Volume:
    """Read and calibrate a candidate's voxels.

    Parameters
    ----------
    candidate
        From :func:`viewer.io.series.build_series`.
    on_progress
        Called as ``(slices done, slices in all)``; the first call comes once the middle slice is
        ready.
    cancel
        Polled between chunks; returning True raises :class:`~viewer.io.scan.Cancelled`.
    workers
        Reader/decoder threads (default: one per core).

    Raises
    ------
    LoadError
        If a file cannot be decoded; its problems name the file and the reason.
    """
    if candidate.nifti_path is not None:
        from viewer.io.nifti import load_nifti

        return load_nifti(candidate.nifti_path, candidate.meta)
    needed, free = int(np.prod(candidate.shape)) * 4, available_memory()  # float32 at worst
    if needed > free:
        message = (f"this series needs {needed / 2**30:.1f} GiB, more than the "
                   f"{free / 2**30:.1f} GiB of memory available")
        raise LoadError(message, [Problem(ProblemCode.UNSUPPORTED_IMAGE, Severity.ERROR, message,
                                          candidate.frames[0].file.path if candidate.frames else None)])
    try:
        array = _stack(candidate.frames, on_progress, cancel, workers)
    except decode.FrameError as exc:
        problem = Problem(ProblemCode.DECODE_FAILED, Severity.ERROR, exc.reason, exc.frame.file.path)
        raise LoadError(f"{exc.frame.file.path}: {exc.reason}", [problem]) from exc
    instances: tuple[InstanceRef | None, ...] = tuple(
        InstanceRef(f.file.sop_class_uid, f.file.sop_instance_uid, f.index, f.file.instance_number)
        for f in candidate.frames)
    if candidate.mode is LoadMode.RESAMPLED and candidate.grid is not None:
        fill = float(array.min())
        resampled = resample_stack(array, candidate.grid, fill)
        array = np.rint(resampled).astype(array.dtype) if array.dtype == np.int16 else resampled
        instances = tuple(None for _ in range(array.shape[0]))
    return Volume(array, candidate.affine, candidate.meta, candidate.mode is LoadMode.RESAMPLED,
                  instances, tuple(candidate.problems))


def read_frame(frame: Frame) -> NDArray[np.generic]:
    """One calibrated image (rows, columns): the preview shown while the rest still loads."""
    return np.asarray(_stack([frame], None, None, 1)[0])
