"""The reading window: series browser, problems, MPR views, histogram, findings; open/cancel with progress."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from viewer import PRODUCT_NAME
from viewer.core.volume import Volume
from viewer.io.series import SeriesCandidate
from viewer.io.study import StudyScan
from viewer.core.display import lps_text, value_text
from viewer.core.mpr import MprState
from viewer.ui.panels.findings_panel import FindingsTable
from viewer.ui.panels.series_panel import ProblemsPanel, SeriesList
from viewer.ui.panels.series_panel import series_row
from viewer.ui.reading_actions import ReadingActions
from viewer.ui.settings import Settings, UserPreset
from viewer.ui.toolbar import ReadingToolbar
from viewer.ui.views.view_grid import Layout, ViewGrid
from viewer.ui.workers import JobThread, StudyLoader

if TYPE_CHECKING:  # torch loads only when a model first runs
    from viewer.inference.runner import InferenceResult
    from viewer.ui.inference_worker import InferenceWorker


def _stacked(*widgets: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(4, 4, 4, 4)
    for w in widgets:
        layout.addWidget(w)
    return box


class MainWindow(QMainWindow):
    """Opens studies and shows one series; all loading runs in :class:`StudyLoader`'s thread."""

    demo_ready = Signal(str)  # folder of the demo study, once generated
    findings_shown = Signal(int)  # number of findings now listed

    def __init__(self, parent: QWidget | None = None, settings: Settings | None = None) -> None:
        super().__init__(parent)
        self.settings = settings or Settings()
        self.setWindowTitle(PRODUCT_NAME)
        self.setAcceptDrops(True)
        self.study: StudyScan | None = None
        self.volume: Volume | None = None
        self.grid = ViewGrid(self)
        self.setCentralWidget(self.grid)
        self.series_list = SeriesList(self)
        self.problems = ProblemsPanel(self)
        self._dock(self.series_list, "Series", Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock(self.problems, "Problems", Qt.DockWidgetArea.BottomDockWidgetArea)
        self.histogram: QWidget | None = None  # built with the first volume: pyqtgraph loads late
        self.findings_table = FindingsTable(self)
        self.model_label = QLabel("No model run yet. AI > Find lesions proposes findings for review.")
        self.model_label.setWordWrap(True)
        self._dock(_stacked(self.model_label, self.findings_table), "Findings",
                   Qt.DockWidgetArea.RightDockWidgetArea)
        self.findings_table.point_requested.connect(self._go_to)
        self.inference: InferenceWorker | None = None
        self._inferred: Volume | None = None  # the volume the running model was given
        self.loader = StudyLoader()
        self._wire_loader()
        self._build_status_bar()
        self.reading = ReadingActions(self.grid, self)
        self._build_menu()
        for view in self.grid.views.values():
            view.probed.connect(self._on_probe)
        self.series_list.series_chosen.connect(self.show_series)
        self.demo_ready.connect(self.open_path)
        self._demo_thread: JobThread | None = None
        self.resize(1400, 900)
        self._restore_settings()

    def _dock(self, widget: QWidget, title: str, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _wire_loader(self) -> None:
        self.loader.preview.connect(self.grid.set_preview)
        self.loader.scanned.connect(self._on_scanned)
        self.loader.progress.connect(self._on_progress)
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self._on_failed)
        self.loader.finished.connect(lambda: self._busy(False))

    def _build_status_bar(self) -> None:
        self.status_label = QLabel("Ready")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        self.probe_label = QLabel("")
        bar = self.statusBar()
        bar.addWidget(self.status_label, 1)
        bar.addPermanentWidget(self.probe_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        self._busy(False)

    def _build_menu(self) -> None:
        menu = self.menuBar().addMenu("&File")
        self.open_action = QAction("&Open folder...", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self._ask_folder)
        menu.addAction(self.open_action)
        self.recent_menu = menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        menu.addAction(quit_action)
        self.reading.build(self.menuBar())
        self._build_user_presets(self.reading.window_menu)
        self.addToolBar(ReadingToolbar(self, self.open_action, self.reading))
        ai = self.menuBar().addMenu("&AI")
        self.find_action = QAction("&Find lesions", self)
        self.find_action.setShortcut(QKeySequence("Ctrl+L"))
        self.find_action.setEnabled(False)
        self.find_action.triggered.connect(lambda: self.run_model())
        ai.addAction(self.find_action)
        self._build_device_menu(ai.addMenu("Run on"))
        help_menu = self.menuBar().addMenu("&Help")
        shortcuts = QAction("&Keyboard and mouse...", self)
        shortcuts.setShortcut(QKeySequence("F1"))
        shortcuts.triggered.connect(self.show_help)
        help_menu.addAction(shortcuts)

    # Actions --------------------------------------------------------------------------
    def open_path(self, path: str) -> None:
        """Scan ``path`` and show its default series."""
        self.settings.last_folder = path
        self.settings.add_recent(path)
        self.grid.preview = True  # the new study's first decoded image may replace what is shown
        self._leave_volume()
        self.status_label.setText(f"Opening {path}")
        self._busy(True)
        self.loader.open(path)

    def _leave_volume(self) -> None:
        """Another volume is coming: stop a model run on this one, and no AI until the new one is loaded."""
        if self.inference is not None:
            self.inference.cancel()
        self.find_action.setEnabled(False)

    def open_demo(self) -> None:
        """Open the demo study, generating it first (off the GUI thread) on the first run."""
        from viewer.io.demo_study import ensure_demo_study
        from viewer.paths import cache_dir

        self.status_label.setText("Preparing the demo study (first run only, about 10 s)...")
        self._busy(True)
        self.progress.setRange(0, 0)  # busy indicator: generation reports no steps
        self._demo_thread = JobThread(lambda: self.demo_ready.emit(str(ensure_demo_study(cache_dir()))))
        self._demo_thread.start()

    def show_series(self, candidate: SeriesCandidate) -> None:
        """Load and show ``candidate``."""
        self._leave_volume()
        self._busy(True)
        self.loader.load(candidate)

    def run_model(self, model_id: str | None = None) -> None:
        """Run a lesion model (the first one found, or ``model_id``) on the shown volume."""
        if self.volume is None:
            return
        from viewer.inference.registry import discover
        from viewer.ui.inference_worker import InferenceWorker

        found = discover()
        try:
            manifest = found.get(model_id) if model_id else found.models[0]
        except (KeyError, IndexError):
            self.status_label.setText("No lesion model is installed (see models/README.md)")
            return
        self.model_label.setText(f"<b>{manifest.name} {manifest.version}</b><br>Trained on: "
                                 f"{manifest.training_data}<br>Use: {manifest.intended_use}")
        if self.inference is not None:
            self.inference.wait()
        try:
            worker = InferenceWorker(manifest, self.settings.ai_device)
        except RuntimeError as exc:  # e.g. CUDA chosen in AI > Run on, but no GPU here
            self.status_label.setText(f"Cannot run {manifest.name}: {exc}")
            return
        self.inference = worker
        self.inference.progress.connect(self._on_progress)
        self.inference.result.connect(self._on_findings)
        self.inference.failed.connect(self._on_failed)
        self.inference.cancelled.connect(lambda: self._on_failed("Inference cancelled"))
        self._busy(True)
        self._inferred = self.volume
        self.inference.start(self.volume)

    def _on_findings(self, result: InferenceResult) -> None:
        self._busy(False)
        if self.volume is None or self._inferred is not self.volume:
            self.status_label.setText("A model result for a series no longer shown was discarded")
            return
        self.findings_table.set_findings(result.findings, self.volume)
        self.grid.set_findings(result.findings)
        total = sum(result.timings_s.values())
        notes = "; ".join(result.notes)  # e.g. a fall-back from the GPU to the CPU
        self.status_label.setText(f"{len(result.findings)} finding(s) proposed for review "
                                  f"({total:.1f} s on {result.device})" + (f". {notes}" if notes else ""))
        self.findings_shown.emit(len(result.findings))

    def _go_to(self, point: np.ndarray) -> None:
        if self.grid.state is not None:
            self.grid.state.set_cursor(point)
            self.grid.state.centre_on_cursor()

    def _on_probe(self, point: np.ndarray | None, value: float | None) -> None:
        state = self.grid.state
        if state is None:
            return
        text = value_text(value, state.volume)
        if state.slab.thickness_mm > 0 and value is not None:
            text += " (centre of the slab)"  # the probe reads the plane through the cursor, not the MIP
        self.probe_label.setText(text + (f"   ({lps_text(point)})" if point is not None else ""))

    def show_help(self) -> None:
        """The keyboard and mouse reference, made from the actions themselves (never out of date)."""
        from viewer.ui.dialogs.help_dialog import HelpDialog

        HelpDialog(self.reading.all + [self.find_action], self).exec()

    def _build_device_menu(self, menu: QMenu) -> None:
        group = QActionGroup(self)
        self.device_actions: dict[str, QAction] = {}
        for device, text in (("auto", "Automatic (CUDA, then Apple MPS, then CPU)"), ("cuda", "CUDA GPU"),
                             ("mps", "Apple MPS"), ("cpu", "CPU")):
            action = menu.addAction(text, lambda d=device: setattr(self.settings, "ai_device", d))
            action.setCheckable(True)
            action.setChecked(device == self.settings.ai_device)
            group.addAction(action)
            self.device_actions[device] = action

    def _build_user_presets(self, menu: QMenu) -> None:
        menu.addSeparator()
        self.user_presets_menu = menu.addMenu("My presets")
        self.user_presets_menu.aboutToShow.connect(self._fill_user_presets)
        menu.addAction("Save current window as a preset...", self._save_preset)

    def _fill_user_presets(self) -> None:
        self.user_presets_menu.clear()
        for p in self.settings.window_presets():
            self.user_presets_menu.addAction(f"{p.name} (W {p.width:.0f} L {p.center:.0f})",
                                             lambda p=p: self.apply_window(p.center, p.width))
        if self.user_presets_menu.isEmpty():
            self.user_presets_menu.addAction("(none saved yet)").setEnabled(False)

    def apply_window(self, center: float, width: float) -> None:
        """Set the window of the shown volume (no-op before one is loaded)."""
        if self.grid.state is not None:
            self.grid.state.set_window(center, width)

    def _save_preset(self, name: str | None = None) -> None:
        """Keep the current window under a name the reader gives (persisted in the settings)."""
        state = self.grid.state
        if state is None:
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "Save window preset", "Name:")
            if not ok:
                return
        if not name.strip():
            return
        kept = [p for p in self.settings.window_presets() if p.name != name.strip()]
        self.settings.set_window_presets(kept + [UserPreset(name.strip(), state.window.center, state.window.width)])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent():
            self.recent_menu.addAction(path, lambda p=path: self.open_path(p))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def _restore_settings(self) -> None:
        self.settings.restore_window(self)
        layout = self.settings.layout_name
        if layout in {m.value for m in Layout}:
            self.grid.set_layout(layout)

    def _save_settings(self) -> None:
        self.settings.save_window(self)
        self.settings.layout_name = self.grid.chosen_layout.value
        self.settings.sync()

    def _cancel(self) -> None:
        """Stop whatever runs in the background: loading or inference."""
        self.loader.cancel()
        if self.inference is not None:
            self.inference.cancel()

    def _ask_folder(self) -> None:
        start = self.settings.last_folder
        folder = QFileDialog.getExistingDirectory(self, "Open study folder", start)
        if folder:
            self.open_path(folder)

    # Loader results -------------------------------------------------------------------
    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)

    def _on_scanned(self, study: StudyScan) -> None:
        self.study = study
        self.series_list.set_study(study)
        self.problems.set_study(study)

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.status_label.setText(f"{stage} {done}/{total}")

    def _on_loaded(self, volume: Volume, candidate: SeriesCandidate) -> None:
        self.volume = volume
        state = self.grid.set_volume(volume)
        self.grid.set_findings(())
        self._show_histogram(state)
        self.grid.active_view.setFocus()
        self.findings_table.set_findings((), volume)
        self.find_action.setEnabled(not state.stack_only)  # lesion sizes need real 3-D geometry
        k, j, i = volume.shape
        note = "  (resampled)" if volume.resampled else ""
        self.status_label.setText(f"{candidate.description}: {i}x{j}x{k}{note}")
        self.setWindowTitle(f"{PRODUCT_NAME} - {volume.meta.patient_name or volume.meta.patient_id}")

    def _show_histogram(self, state: MprState) -> None:
        if self.histogram is None:
            from viewer.ui.panels.histogram_panel import HistogramPanel

            self.histogram = HistogramPanel(self)
            self._dock(self.histogram, "Histogram", Qt.DockWidgetArea.RightDockWidgetArea)
        self.histogram.set_state(state)  # type: ignore[attr-defined]

    def _on_failed(self, message: str) -> None:
        self.status_label.setText(message)

    # Drag and drop --------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() or series_row(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        """A folder from the file manager opens it; a series from the browser shows it."""
        row = series_row(event.mimeData())
        if row is not None:
            self.show_series(self.series_list.candidate(row))
            return
        urls = event.mimeData().urls()
        if urls:
            self.open_path(urls[0].toLocalFile())

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self._save_settings()
        self.reading.cine.stop()
        self.series_list.stop_thumbnails()
        self.series_list.wait_thumbnails(5000)
        self.loader.wait()
        if self.inference is not None:
            self.inference.wait()
        if self._demo_thread is not None:
            self._demo_thread.wait()
        super().closeEvent(event)

