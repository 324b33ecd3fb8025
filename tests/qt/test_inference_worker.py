"""Inference runs off the GUI thread: the event loop keeps turning, results and cancels arrive."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QTimer

from viewer.inference.manifest import read
from viewer.ui.inference_worker import InferenceWorker

from tests.data.tiny_model import BrightBlob, sagittal_volume, write_manifest

pytestmark = pytest.mark.qt


@pytest.fixture
def worker(tmp_path: Path) -> InferenceWorker:
    weights = tmp_path / "model.ts"
    torch.jit.save(torch.jit.script(BrightBlob()), str(weights))
    write_manifest(tmp_path, weights, inference={"patch_zyx": [8, 16, 16], "overlap": 0.5})  # many small tiles
    w = InferenceWorker(read(tmp_path), "cpu")
    yield w
    w.wait()


def test_gui_event_loop_turns_while_the_model_runs(qtbot, worker: InferenceWorker) -> None:  # type: ignore[no-untyped-def]
    volume, spheres = sagittal_volume()
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)
    progress: list[int] = []
    worker.progress.connect(lambda stage, done, total: progress.append(done))
    with qtbot.waitSignal(worker.result, timeout=60000) as blocker:
        worker.start(volume)
    timer.stop()
    assert len(blocker.args[0].findings) == len(spheres)
    assert len(progress) > 10  # progress arrived per tile, in the GUI thread
    assert len(ticks) >= 5  # the GUI kept processing events during inference


def test_cancel_arrives_as_a_signal_and_produces_no_result(qtbot, worker: InferenceWorker) -> None:  # type: ignore[no-untyped-def]
    volume, _ = sagittal_volume()
    results: list[object] = []
    worker.result.connect(results.append)
    worker.progress.connect(lambda *_: worker.cancel())
    with qtbot.waitSignal(worker.cancelled, timeout=60000):
        worker.start(volume)
    assert results == []
