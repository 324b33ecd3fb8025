"""Thin Qt adapter: runs a model in a worker thread; results come back as queued signals.

The worker never touches core objects the GUI holds: it hands back an immutable InferenceResult,
and the GUI thread applies it.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from viewer.core.volume import Volume
from viewer.inference.loading import ModelLoadError
from viewer.inference.manifest import ModelManifest
from viewer.inference.runner import Cancelled, Runner
from viewer.ui.workers import JobThread


class InferenceWorker(QObject):
    """Runs one model on one volume at a time."""

    progress = Signal(str, int, int)  # stage, done, total
    result = Signal(object)  # InferenceResult
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, manifest: ModelManifest, device: str | None = None) -> None:
        super().__init__()
        self.runner = Runner(manifest, device)
        self._cancel = threading.Event()
        self._thread: JobThread | None = None

    def start(self, volume: Volume) -> None:
        """Start inference on ``volume`` (the previous run, if any, is cancelled first)."""
        self.wait()
        self._cancel.clear()
        self._thread = JobThread(lambda: self._run(volume))
        self._thread.start()

    def cancel(self) -> None:
        """Stop at the next tile."""
        self._cancel.set()

    def wait(self) -> None:
        """Cancel and wait for the worker thread to end."""
        if self._thread is not None and self._thread.isRunning():
            self.cancel()
            self._thread.wait()

    def _run(self, volume: Volume) -> None:
        try:
            out = self.runner.run(volume, lambda s, d, t: self.progress.emit(s, d, t), self._cancel.is_set)
        except Cancelled:
            self.cancelled.emit()
        except (ModelLoadError, RuntimeError, ValueError) as exc:
            self.failed.emit(str(exc))
        else:
            self.result.emit(out)
