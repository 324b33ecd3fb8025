"""Thin Qt adapters that run headless io work off the GUI thread and report through signals."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from viewer.io.headers import Frame
from viewer.io.loader import LoadError, load_series, read_frame
from viewer.io.scan import Cancelled
from viewer.io.series import SeriesCandidate
from viewer.io.study import open_folder


class JobThread(QThread):
    """A QThread that runs one callable."""

    def __init__(self, job: Callable[[], None]) -> None:
        super().__init__()
        self._job = job

    def run(self) -> None:
        self._job()


class StudyLoader(QObject):
    """Scans a folder, then loads one series; every result arrives as a queued signal."""

    preview = Signal(object)  # np.ndarray: a first image, before the scan has finished
    scanned = Signal(object)  # StudyScan
    progress = Signal(str, int, int)  # stage, done, total
    loaded = Signal(object, object)  # Volume, SeriesCandidate
    failed = Signal(str)
    finished = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._cancel = threading.Event()
        self._thread: JobThread | None = None

    def cancel(self) -> None:
        """Ask the running job to stop at its next check."""
        self._cancel.set()

    def is_running(self) -> bool:
        """True while a job runs."""
        return self._thread is not None and self._thread.isRunning()

    def open(self, path: str) -> None:
        """Scan ``path`` and load its default series, in a worker thread."""
        self._start(lambda: self._open(path))

    def load(self, candidate: SeriesCandidate) -> None:
        """Load ``candidate``, in a worker thread."""
        self._start(lambda: self._load(candidate))

    def wait(self) -> None:
        """Cancel any running job and wait for its thread to end."""
        if self._thread is not None and self._thread.isRunning():
            self.cancel()
            self._thread.wait()

    def _start(self, job: Callable[[], None]) -> None:
        self.wait()
        self._cancel.clear()
        self._thread = JobThread(job)
        self._thread.finished.connect(self.finished)
        self._thread.start()

    def _on_frame(self, frame: Frame) -> None:
        try:
            self.preview.emit(np.asarray(read_frame(frame)))
        except Exception:  # a preview is a courtesy; the full load reports real problems
            pass

    def _open(self, path: str) -> None:
        try:
            study = open_folder(path, lambda d, t: self.progress.emit("Scanning", d, t),
                                self._cancel.is_set, self._on_frame)
        except Cancelled:
            self.failed.emit("Cancelled")
            return
        except OSError as exc:
            self.failed.emit(f"Cannot open {path}: {exc}")
            return
        self.scanned.emit(study)
        candidate = study.default()
        if candidate is None:
            self.failed.emit(f"No images found in {path}")
            return
        self._load(candidate)

    def _load(self, candidate: SeriesCandidate) -> None:
        try:
            volume = load_series(candidate, lambda d, t: self.progress.emit("Loading", d, t),
                                 self._cancel.is_set)
        except Cancelled:
            self.failed.emit("Cancelled")
            return
        except LoadError as exc:
            self.failed.emit(str(exc))
            return
        self.loaded.emit(volume, candidate)
