"""The reading window in a real Qt window (under Xvfb): open, browse, scroll, window/level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt

from tests.gui_events import drag, move
from viewer.core.mpr import Plane
from viewer.io.dicom_writer import SeriesIds, axial_positions, write_series
from viewer.ui.main_window import MainWindow
from viewer.ui.settings import Settings
from viewer.ui.views.mpr_view import MprView

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
def window(qtbot, tmp_path: Path) -> MainWindow:  # type: ignore[no-untyped-def]
    store = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=Settings(store))
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()  # shortcuts only fire in the active window
    qtbot.waitUntil(w.isActiveWindow)
    yield w
    w.loader.wait()


def _open(qtbot, window: MainWindow, path: Path) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(window.loader.loaded, timeout=20000):
        window.open_path(str(path))


def _axial(window: MainWindow) -> MprView:
    return window.grid.views[Plane.AXIAL]


def test_open_folder_shows_series_problems_and_middle_slice(qtbot, window: MainWindow,
                                                            study: Path) -> None:
    _open(qtbot, window, study)
    assert window.series_list.count() == 1
    assert "marker" in window.series_list.item(0).text()
    rows = [window.problems.topLevelItem(i) for i in range(window.problems.topLevelItemCount())]
    broken = [r for r in rows if r.text(2).endswith("broken.dcm")]
    assert len(broken) == 1 and broken[0].text(0) == "error" and broken[0].text(3)
    assert _axial(window).overlay_texts()[2].startswith(f"Im {N // 2 + 1}/{N}")
    assert "marker" in _axial(window).overlay_texts()[1]


def test_patient_left_is_drawn_on_the_viewers_right(qtbot, window: MainWindow, study: Path) -> None:
    _open(qtbot, window, study)
    view = _axial(window)
    window.grid.state.set_window(0, 400)
    rgb = view.frame_rgb()
    vp = view.viewport()
    left_side = window.volume.index_to_lps([52, 32, N // 2])  # inside the block (columns 44-59)
    right_side = window.volume.index_to_lps([12, 32, N // 2])
    (xl, yl), (xr, yr) = vp.to_px(left_side), vp.to_px(right_side)
    assert xl > vp.width_px / 2 > xr  # the patient's left lies on the viewer's right
    assert rgb[round(yl), round(xl)].min() > 200 and rgb[round(yr), round(xr)].max() < 30


def test_keys_scroll_presets_and_layouts(qtbot, window: MainWindow, study: Path) -> None:
    _open(qtbot, window, study)
    view = _axial(window)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert view.overlay_texts()[2].startswith(f"Im {N // 2 + 2}/{N}")
    qtbot.keyClick(view, Qt.Key.Key_PageDown)
    assert view.overlay_texts()[2].startswith(f"Im 1/{N}")  # clamped at the first slice
    qtbot.keyClick(view, Qt.Key.Key_2)  # lung preset
    w = window.grid.state.window
    assert (w.center, w.width) == (-600.0, 1500.0)
    assert "W 1500  L -600" in view.overlay_texts()[3]
    qtbot.keyClick(view, Qt.Key.Key_0)  # back to the series' own DICOM window
    assert (window.grid.state.window.center, window.grid.state.window.width) == (40.0, 400.0)
    window.grid.set_active(Plane.CORONAL)
    qtbot.keyClick(view, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert [p for p, v in window.grid.views.items() if v.isVisible()] == [Plane.CORONAL]
    qtbot.keyClick(window.grid.views[Plane.CORONAL], Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert all(v.isVisible() for v in window.grid.views.values())


def test_right_drag_changes_window_and_probe_shows_hu_and_position(qtbot, window: MainWindow,
                                                                   study: Path) -> None:
    _open(qtbot, window, study)
    view = _axial(window)
    before = window.grid.state.window
    drag(view, (100, 100), (140, 80), Qt.MouseButton.RightButton)
    after = window.grid.state.window
    assert after.width > before.width and after.center < before.center
    block = window.volume.index_to_lps([52, 32, N // 2])
    x, y = view.viewport().to_px(block)
    move(view, x, y)
    text = window.probe_label.text()
    assert text.startswith("1000 HU") and "(L 20.5  P 0.5  S 8.0 mm)" in text  # bone-bright marker, patient's left


def test_cine_plays_through_slices_and_stops(qtbot, window: MainWindow, study: Path) -> None:
    _open(qtbot, window, study)
    start = window.grid.state.cursor.copy()
    window.reading.toggle_cine()
    qtbot.waitUntil(lambda: window.grid.state.cursor[2] != start[2], timeout=5000)
    window.reading.toggle_cine()
    assert not window.reading.cine.isActive()


def test_help_lists_every_shortcut(qtbot, window: MainWindow) -> None:
    from viewer.ui.dialogs.help_dialog import HelpDialog

    dialog = HelpDialog(window.reading.all + [window.find_action], window)
    qtbot.addWidget(dialog)
    rows = {dialog.table.item(r, 1).text(): dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())}
    assert rows["Lung (W 1500 L -600)"] == "2"
    assert rows["Layout 2x2"] == "Ctrl+4"
    assert "Window/level: horizontal = width, vertical = level" in rows


def test_layout_and_recent_folders_persist(qtbot, window: MainWindow, study: Path, tmp_path: Path) -> None:
    _open(qtbot, window, study)
    window.grid.set_layout("2x2")
    window.close()
    store = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    again = MainWindow(settings=Settings(store))
    qtbot.addWidget(again)
    assert again.grid.layout_mode.value == "2x2"
    assert again.reading.layout_actions[again.grid.layout_mode].isChecked()  # the toolbar agrees
    assert again.settings.recent()[0] == str(study)


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
    finding = window.grid.views[Plane.AXIAL].findings[0]
    window.grid.state.set_cursor(window.volume.index_to_lps([0, 0, 0]))
    window.findings_table.cellClicked.emit(0, 0)  # go to the finding
    view = _axial(window)
    a, b = finding.measurements.long_axis_lps
    assert abs(window.grid.state.cursor[2] - a[2]) < 1e-6  # on the slice where it was measured
    vp = view.viewport()
    (xa, ya), (xb, yb) = vp.to_px(a), vp.to_px(b)
    x, y = xa * 0.75 + xb * 0.25, ya * 0.75 + yb * 0.25  # off the middle, where the short axis crosses
    r, g, bl = (int(c) for c in view.frame_rgb()[round(y), round(x)])
    assert r > 200 and bl < 120  # the red long-axis line is drawn there


def test_toolbar_slab_controls_and_keys_agree(qtbot, window: MainWindow, study: Path) -> None:
    from viewer.ui.toolbar import ReadingToolbar

    _open(qtbot, window, study)
    bar = window.findChild(ReadingToolbar)
    bar.slab_mode.setCurrentText("MinIP")
    bar.slab_mm.setValue(6.0)
    slab = window.grid.state.slab
    assert (slab.mode.value, slab.thickness_mm) == ("minip", 6.0)
    assert "MINIP 6 mm" in _axial(window).overlay_texts()[2]
    qtbot.keyClick(_axial(window), Qt.Key.Key_T)  # thin slice again
    assert window.grid.state.slab.thickness_mm == 0 and bar.slab_mode.currentText() == "Thin slice"
    qtbot.keyClick(_axial(window), Qt.Key.Key_M)  # MIP, first step
    assert bar.slab_mode.currentText() == "MIP" and bar.slab_mm.value() == 5.0


def test_user_window_presets_are_saved_and_offered_again(qtbot, window: MainWindow, study: Path) -> None:
    _open(qtbot, window, study)
    window.grid.state.set_window(75.0, 250.0)
    window._save_preset("Pancreas")
    window._fill_user_presets()
    (action,) = [a for a in window.user_presets_menu.actions() if a.text().startswith("Pancreas")]
    window.grid.state.set_window(0.0, 100.0)
    action.trigger()
    assert (window.grid.state.window.center, window.grid.state.window.width) == (75.0, 250.0)
    assert [p.name for p in window.settings.window_presets()] == ["Pancreas"]


def test_a_series_dragged_from_the_browser_is_shown(qtbot, window: MainWindow, study: Path) -> None:
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QDropEvent

    _open(qtbot, window, study)
    mime = window.series_list.mimeData([window.series_list.item(0)])
    drop = QDropEvent(QPointF(400, 300), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.loader.loaded, timeout=20000) as loaded:
        window.dropEvent(drop)
    assert loaded.args[1] is window.series_list.candidate(0)


def test_a_model_result_for_a_series_no_longer_shown_is_discarded(qtbot, window: MainWindow, study: Path) -> None:
    from types import SimpleNamespace

    _open(qtbot, window, study)
    window._inferred = window.volume
    window.show_series(window.series_list.candidate(0))  # the reader moves on while the model runs
    assert not window.find_action.isEnabled()
    qtbot.waitUntil(lambda: window.find_action.isEnabled(), timeout=20000)  # the new volume is loaded
    stale = SimpleNamespace(findings=("not for this volume",), timings_s={}, device="cpu")
    window._on_findings(stale)  # type: ignore[arg-type]
    assert window.findings_table.rowCount() == 0 and window.grid.findings == ()
    assert "discarded" in window.status_label.text()


def test_device_choice_persists_and_a_missing_gpu_is_said_not_crashed(qtbot, window: MainWindow, study: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    _open(qtbot, window, study)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    window.device_actions["cuda"].trigger()
    assert window.settings.ai_device == "cuda"
    window.run_model()
    assert "no CUDA GPU is available" in window.status_label.text()
    window.device_actions["auto"].trigger()
    assert window.settings.ai_device == "auto"
