"""The reading window in a real Qt window (under Xvfb): open, browse, scroll, window/level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from viewer.io.dicom_writer import SeriesIds, axial_positions, write_series
from viewer.ui.main_window import MainWindow

pytestmark = pytest.mark.qt

N, SIZE = 9, 64


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """Axial CT with a bright block on the patient's LEFT (high column index) on every slice."""
    stored = np.full((N, SIZE, SIZE), 1024 - 1000, dtype=np.uint16)  # air
    stored[:, 24:40, 44:60] = 1024 + 1000  # bone-bright marker, patient left
    write_series(str(tmp_path / "ct"), stored, axial_positions(N, SIZE, SIZE, (2.0, 1.0, 1.0)),
                 (1, 0, 0, 0, 1, 0), (1.0, 1.0), SeriesIds(series_description="marker"),
                 intercept=-1024.0)
    (tmp_path / "ct" / "broken.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00")
    return tmp_path


@pytest.fixture
def window(qtbot) -> MainWindow:  # type: ignore[no-untyped-def]
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(900, 700)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.loader.wait()


def _open(qtbot, window: MainWindow, path: Path) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.loader.loaded, timeout=20000):
        window.open_path(str(path))


def test_open_folder_shows_series_problems_and_middle_slice(qtbot, window: MainWindow,
                                                            study: Path) -> None:
    _open(qtbot, window, study)
    assert window.series_list.count() == 1
    assert "marker" in window.series_list.item(0).text()
    rows = [window.problems.topLevelItem(i) for i in range(window.problems.topLevelItemCount())]
    broken = [r for r in rows if r.text(2).endswith("broken.dcm")]
    assert len(broken) == 1 and broken[0].text(0) == "error" and broken[0].text(3)
    assert window.view.volume is not None and window.view.slice == N // 2


def test_patient_left_is_drawn_on_the_viewers_right(qtbot, window: MainWindow, study: Path) -> None:
    _open(qtbot, window, study)
    view = window.view
    view.set_window(0, 400)
    image = view.grab().toImage()
    rect = view.image_rect()
    y = int(rect.center().y())
    right = image.pixelColor(int(rect.left() + rect.width() * 52 / SIZE), y).value()
    left = image.pixelColor(int(rect.left() + rect.width() * 12 / SIZE), y).value()
    assert right > 200 and left < 30


def test_keys_scroll_and_right_drag_changes_window(qtbot, window: MainWindow, study: Path) -> None:
    _open(qtbot, window, study)
    view = window.view
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert view.slice == N // 2 + 1
    qtbot.keyClick(view, Qt.Key.Key_PageDown)
    assert view.slice == 0  # clamped at the first slice
    before = (view.window_center, view.window_width)
    qtbot.mousePress(view, Qt.MouseButton.RightButton, pos=QPoint(100, 100))
    qtbot.mouseMove(view, QPoint(140, 80))
    qtbot.mouseRelease(view, Qt.MouseButton.RightButton, pos=QPoint(140, 80))
    assert view.window_width > before[1] and view.window_center > before[0]


def test_failed_open_is_reported_in_status_bar(qtbot, window: MainWindow, tmp_path: Path) -> None:
    with qtbot.waitSignal(window.loader.failed, timeout=10000):
        window.open_path(str(tmp_path))
    assert "No images" in window.status_label.text()


def test_demo_is_prepared_off_the_gui_thread_then_opened(qtbot, window: MainWindow, study: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from viewer.io import demo_study

    threads: list[str] = []

    def fake_demo(cache: object) -> Path:
        threads.append(threading.current_thread().name)
        return study

    monkeypatch.setattr(demo_study, "ensure_demo_study", fake_demo)
    with qtbot.waitSignal(window.loader.loaded, timeout=20000):
        window.open_demo()
    assert threads and threads[0] != threading.main_thread().name
    assert window.series_list.count() == 1


def test_find_lesions_lists_findings_says_what_the_model_is_and_draws_axes(
        qtbot, window: MainWindow, study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from tests.data.tiny_model import BrightBlob, write_manifest

    models = tmp_path / "models" / "blob"
    models.mkdir(parents=True)
    torch.jit.save(torch.jit.script(BrightBlob()), str(models / "model.ts"))
    write_manifest(models, models / "model.ts")
    monkeypatch.setenv("LUMEN_MODELS_DIR", str(tmp_path / "models"))
    _open(qtbot, window, study)
    assert window.find_action.isEnabled()
    with qtbot.waitSignal(window.findings_shown, timeout=60000):
        window.run_model("test-bright-blob")
    assert window.findings_table.rowCount() == 1  # the bright marker block
    assert "Trained on: none: a rule for tests" in window.model_label.text()
    assert "proposed for review" in window.status_label.text()
    from viewer.ui.panels.findings_panel import long_axis_slice

    finding = window.view.findings[0]
    window.view.set_slice(0 if long_axis_slice(finding, window.volume) else N - 1)
    window.findings_table.cellClicked.emit(0, 0)
    assert window.view.slice == long_axis_slice(finding, window.volume)
    a, b = finding.measurements.long_axis_lps
    (pa, _), (pb, _) = window.view.to_widget(a), window.view.to_widget(b)
    quarter = pa * 0.75 + pb * 0.25  # off the middle, where the short axis crosses
    colour = window.view.grab().toImage().pixelColor(round(quarter.x()), round(quarter.y()))
    assert colour.red() > 200 and colour.blue() < 120  # the red long-axis line is drawn there
